//! The fake PayPal's trust root as hostdeck's config takes it.

use std::path::Path;

use hostdeck_fakes::paypal::FakePaypal;

/// The fake PayPal's root certificate in a PEM file, for `paypal.cert_roots`: offline webhook
/// verification trusts PayPal's certificate only when it chains to a configured root. The
/// file is removed when this is dropped.
pub struct CertRoots(tempfile::TempPath);

impl CertRoots {
    pub fn of(paypal: &FakePaypal) -> Self {
        let file = tempfile::Builder::new()
            .prefix("paypal-roots-")
            .suffix(".pem")
            .tempfile()
            .expect("a temporary file for the PayPal roots");
        std::fs::write(file.path(), paypal.root_pem()).expect("write the PayPal roots");
        Self(file.into_temp_path())
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}
