//! `[company]`: who runs the service, as pages, mail and statements name it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompanyConfig {
    /// The hosting company's name, shown in the portal and in emails.
    pub name: String,
    /// The portal's main colour, as `#rrggbb`.
    pub primary_color: HexColor,
    /// Where customers write for help; shown in emails and on error pages.
    pub support_email: Option<String>,
    /// The registered name, when it differs from `name`; heads PDF statements.
    pub legal_name: Option<String>,
    /// The postal address, one line per entry; printed on PDF statements.
    pub address: Vec<String>,
    /// A VAT or other tax number; printed on PDF statements.
    pub tax_id: Option<String>,
}

impl Default for CompanyConfig {
    fn default() -> Self {
        Self {
            name: "hostdeck".into(),
            primary_color: HexColor("#2563eb".into()),
            support_email: None,
            legal_name: None,
            address: Vec::new(),
            tax_id: None,
        }
    }
}

impl CompanyConfig {
    /// What a statement prints under the company's name: the legal name, the address, the tax
    /// number and the support address, each when set.
    pub fn details(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(legal) = self.legal_name.as_deref().filter(|l| !l.trim().is_empty()) {
            lines.push(legal.trim().to_owned());
        }
        lines.extend(
            self.address
                .iter()
                .map(|line| line.trim())
                .filter(|line| !line.is_empty())
                .map(str::to_owned),
        );
        if let Some(tax) = self.tax_id.as_deref().filter(|t| !t.trim().is_empty()) {
            lines.push(format!("Tax ID: {}", tax.trim()));
        }
        if let Some(email) = self.support_email.as_deref() {
            lines.push(email.to_owned());
        }
        lines
    }
}

/// A colour written `#rrggbb`: validated, because it ends up in the portal's stylesheet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct HexColor(String);

impl HexColor {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for HexColor {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let ok = text.len() == 7
            && text.starts_with('#')
            && text[1..].chars().all(|c| c.is_ascii_hexdigit());
        if ok {
            Ok(Self(text.to_ascii_lowercase()))
        } else {
            Err(serde::de::Error::custom(format!(
                "{text:?} is not a colour; write it like \"#2563eb\""
            )))
        }
    }
}
