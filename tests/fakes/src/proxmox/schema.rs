//! The Proxmox VE API schema (`proxmox/pve-api-schema.json`) and the parameter checks pveproxy
//! runs before any handler, retold from `PVE::JSONSchema`: required and unknown parameters,
//! types, named formats, property strings (`net0=virtio,bridge=vmbr0`), patterns, lengths,
//! ranges and enumerations, with Proxmox's own messages.
//!
//! Named formats the fake knows: `pve-node`, `pve-vmid`, `dns-name`, `pve-configid`,
//! `pve-storage-id`, `pve-bridge-id`, `mac-addr`, `ipv4`, `ipv6`, `ip`, `urlencoded` (and their
//! `-list` and `-opt` forms). Other named formats are accepted unchecked, as are patterns the
//! Rust regex engine cannot compile: the fake would rather let a value through than refuse one
//! Proxmox accepts.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{Mutex, OnceLock};

use regex::Regex;
use serde_json::{Map, Value};

/// Parameter name (`vmid`, `net0.model`) to Proxmox's message about it.
pub type Errors = BTreeMap<String, String>;

pub struct ApiSchema {
    endpoints: Vec<EndpointSchema>,
    patterns: Mutex<HashMap<String, Option<Regex>>>,
}

struct EndpointSchema {
    template: String,
    segments: Vec<String>,
    methods: Map<String, Value>,
}

/// The schema entry a request path and method resolved to.
pub struct Route<'a> {
    /// The schema's path, e.g. `/nodes/{node}/qemu/{vmid}/status/start`.
    pub template: &'a str,
    pub path_params: Vec<(String, String)>,
    pub method_info: &'a Value,
}

impl ApiSchema {
    /// The schema, read once per process: every fake started shares it.
    pub fn shared() -> &'static Self {
        static SCHEMA: OnceLock<ApiSchema> = OnceLock::new();
        SCHEMA.get_or_init(Self::load)
    }

    fn load() -> Self {
        let path = crate::wire_dir().join("proxmox/pve-api-schema.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
        let tree: Value = serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("parse {}: {error}", path.display()));
        let mut endpoints = Vec::new();
        collect(&tree, &mut endpoints);
        Self {
            endpoints,
            patterns: Mutex::default(),
        }
    }

    /// The endpoint for `method` on the path below `/api2/json` (already split and decoded).
    /// `None` when the schema has no such path or the path has no such method: pveproxy answers
    /// both with a 501.
    pub fn route(&self, method: &str, segments: &[String]) -> Option<Route<'_>> {
        let mut best: Option<(usize, &EndpointSchema)> = None;
        for endpoint in &self.endpoints {
            if endpoint.segments.len() != segments.len() {
                continue;
            }
            let mut literals = 0;
            let matched = endpoint
                .segments
                .iter()
                .zip(segments)
                .all(|(part, actual)| {
                    if is_placeholder(part) {
                        !actual.is_empty()
                    } else {
                        literals += 1;
                        part == actual
                    }
                });
            if matched && best.is_none_or(|(score, _)| literals > score) {
                best = Some((literals, endpoint));
            }
        }
        let (_, endpoint) = best?;
        let method_info = endpoint.methods.get(method)?;
        let path_params = endpoint
            .segments
            .iter()
            .zip(segments)
            .filter(|(part, _)| is_placeholder(part))
            .map(|(part, actual)| (part[1..part.len() - 1].to_owned(), actual.clone()))
            .collect();
        Some(Route {
            template: &endpoint.template,
            path_params,
            method_info,
        })
    }

    /// What pveproxy would refuse in `params` for this method; empty when it would pass them.
    pub fn check(&self, method_info: &Value, params: &BTreeMap<String, Value>) -> Errors {
        let mut errors = Errors::new();
        let parameters = &method_info["parameters"];
        let properties = parameters["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        self.check_object(
            "",
            &properties,
            params,
            &parameters["additionalProperties"],
            &mut errors,
        );
        errors
    }

    /// Checks a response body against the method's `returns` schema; for the fake's own tests.
    pub fn check_returns(&self, method_info: &Value, data: &Value) -> Errors {
        let mut errors = Errors::new();
        self.check_prop(Some(data), &method_info["returns"], "", &mut errors);
        errors
    }

    fn check_object(
        &self,
        path: &str,
        properties: &Map<String, Value>,
        value: &BTreeMap<String, Value>,
        additional: &Value,
        errors: &mut Errors,
    ) {
        for (key, schema) in properties {
            if key.ends_with("[n]") {
                continue;
            }
            self.check_prop(value.get(key), schema, &join(path, key), errors);
        }
        for (key, item) in value {
            let child = join(path, key);
            if properties.contains_key(key) {
                if let Some(requires) = properties[key]["requires"].as_str()
                    && !value.contains_key(requires)
                {
                    add_error(
                        errors,
                        &join(path, requires),
                        &format!("missing property required by '{child}'"),
                    );
                }
                continue;
            }
            if let Some(schema) = indexed_schema(properties, key) {
                self.check_prop(Some(item), schema, &child, errors);
                continue;
            }
            if refuses_additional(additional) {
                add_error(
                    errors,
                    &child,
                    "property is not defined in schema and the schema does not allow additional properties",
                );
            }
        }
    }

    fn check_prop(&self, value: Option<&Value>, schema: &Value, path: &str, errors: &mut Errors) {
        if schema.get("alias").is_some() {
            return;
        }
        let value = match value {
            None | Some(Value::Null) => {
                let optional = truthy(&schema["optional"])
                    || schema.get("group").is_some()
                    || schema.get("instance-types").is_some()
                    || schema["type"] == "null";
                if !optional {
                    add_error(errors, path, "property is missing and it is not optional");
                }
                return;
            }
            Some(value) => value,
        };
        if !check_type(path, schema["type"].as_str(), value, errors) {
            return;
        }
        match value {
            Value::Array(items) => {
                if schema["items"].is_object() {
                    for (index, item) in items.iter().enumerate() {
                        self.check_prop(
                            Some(item),
                            &schema["items"],
                            &format!("{path}[{index}]"),
                            errors,
                        );
                    }
                }
            }
            Value::Object(map) => {
                if let Some(properties) = schema["properties"].as_object() {
                    let map: BTreeMap<String, Value> =
                        map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                    self.check_object(
                        path,
                        properties,
                        &map,
                        &schema["additionalProperties"],
                        errors,
                    );
                }
            }
            Value::Bool(_) => {}
            scalar => self.check_scalar(&perl_string(scalar), schema, path, errors),
        }
    }

    fn check_scalar(&self, text: &str, schema: &Value, path: &str, errors: &mut Errors) {
        match &schema["format"] {
            Value::String(name) => {
                if let Err(message) = check_named_format(name, text) {
                    add_error(errors, path, &format!("invalid format - {message}"));
                    return;
                }
            }
            Value::Object(format) => {
                if let Err(message) = self.check_property_string(format, text, path) {
                    add_error(errors, path, &format!("invalid format - {message}"));
                    return;
                }
            }
            _ => {}
        }
        if let Some(pattern) = schema["pattern"].as_str()
            && let Some(regex) = self.pattern(pattern)
            && !regex.is_match(text)
        {
            add_error(errors, path, "value does not match the regex pattern");
            return;
        }
        let length = text.chars().count();
        if let Some(max) = schema["maxLength"].as_u64()
            && length as u64 > max
        {
            add_error(
                errors,
                path,
                &format!("value may only be {max} characters long"),
            );
            return;
        }
        if let Some(min) = schema["minLength"].as_u64()
            && (length as u64) < min
        {
            add_error(
                errors,
                path,
                &format!("value must be at least {min} characters long"),
            );
            return;
        }
        if let Some(number) = parse_number(text) {
            if let Some((max, shown)) = bound(&schema["maximum"])
                && number > max
            {
                add_error(
                    errors,
                    path,
                    &format!("value must have a maximum value of {shown}"),
                );
                return;
            }
            if let Some((min, shown)) = bound(&schema["minimum"])
                && number < min
            {
                add_error(
                    errors,
                    path,
                    &format!("value must have a minimum value of {shown}"),
                );
                return;
            }
        }
        if let Some(choices) = schema["enum"].as_array() {
            let choices: Vec<String> = choices.iter().map(perl_string).collect();
            if !choices.iter().any(|choice| choice == text) {
                add_error(
                    errors,
                    path,
                    &format!(
                        "value '{text}' does not have a value in the enumeration '{}'",
                        choices.join(", ")
                    ),
                );
            }
        }
    }

    /// `PVE::JSONSchema::parse_property_string` and the check of what it parsed; the error is
    /// the text pveproxy appends to `invalid format - `.
    fn check_property_string(
        &self,
        format: &Map<String, Value>,
        data: &str,
        path: &str,
    ) -> Result<(), String> {
        let parsed = parse_property_string(format, data)?;
        let mut errors = Errors::new();
        self.check_object(path, format, &parsed, &Value::from(0), &mut errors);
        if errors.is_empty() {
            return Ok(());
        }
        let mut message = "format error\n".to_owned();
        for (key, error) in errors {
            message.push_str(&format!("{key}: {error}\n"));
        }
        Err(message)
    }

    fn pattern(&self, pattern: &str) -> Option<Regex> {
        let mut cache = self
            .patterns
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache
            .entry(pattern.to_owned())
            .or_insert_with(|| Regex::new(&format!("^(?:{})$", perl_to_rust_regex(pattern))).ok())
            .clone()
    }
}

fn collect(nodes: &Value, out: &mut Vec<EndpointSchema>) {
    for node in nodes.as_array().into_iter().flatten() {
        if let (Some(path), Some(methods)) = (node["path"].as_str(), node["info"].as_object()) {
            out.push(EndpointSchema {
                template: path.to_owned(),
                segments: path
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
                methods: methods.clone(),
            });
        }
        collect(&node["children"], out);
    }
}

fn is_placeholder(segment: &str) -> bool {
    segment.starts_with('{') && segment.ends_with('}')
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// A second message for the same parameter is joined with a literal `\n`, as Proxmox does.
fn add_error(errors: &mut Errors, path: &str, message: &str) {
    let path = if path.is_empty() { "_root" } else { path };
    errors
        .entry(path.to_owned())
        .and_modify(|existing| {
            existing.push_str("\\n");
            existing.push_str(message);
        })
        .or_insert_with(|| message.to_owned());
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => !s.is_empty() && s != "0",
        _ => false,
    }
}

fn refuses_additional(additional: &Value) -> bool {
    matches!(
        additional,
        Value::Number(_) | Value::Bool(_) | Value::String(_)
    ) && !truthy(additional)
}

/// The schema for an indexed parameter such as `net3`, listed once as `net[n]`.
fn indexed_schema<'a>(properties: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    let digits = key.len() - key.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 || digits == key.len() {
        return None;
    }
    let (prefix, index) = key.split_at(key.len() - digits);
    if index.len() > 1 && index.starts_with('0') {
        return None;
    }
    let schema = properties.get(&format!("{prefix}[n]"))?;
    let index: usize = index.parse().ok()?;
    (index < index_limit(prefix, schema)).then_some(schema)
}

/// How many of an indexed parameter a guest may have: from the description where it says
/// ("n is 0 to 30"), else the limit in qemu-server and pve-container.
fn index_limit(prefix: &str, schema: &Value) -> usize {
    let description = schema["description"].as_str().unwrap_or_default();
    if let Some(rest) = description.split("n is 0 to ").nth(1) {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(last) = digits.parse::<usize>() {
            return last + 1;
        }
    }
    match prefix {
        "net" | "ipconfig" => 32,
        "unused" | "mp" | "dev" => 256,
        "hostpci" | "virtio" => 16,
        "usb" => 14,
        "numa" | "link" => 8,
        "virtiofs" => 10,
        "acmedomain" => 5,
        _ => 32,
    }
}

/// How Perl would print a JSON scalar it was given.
fn perl_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => if *b { "1" } else { "0" }.to_owned(),
        other => other.to_string(),
    }
}

fn parse_number(text: &str) -> Option<f64> {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
        None => (unsigned, None),
    };
    let mantissa_ok = {
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        (!whole.is_empty() || !fraction.is_empty())
            && digits(whole)
            && digits(fraction)
            && (mantissa.contains('.') || !whole.is_empty())
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
    });
    if mantissa_ok && exponent_ok {
        text.parse::<f64>()
            .ok()
            .or_else(|| format!("{text}0").parse().ok())
    } else {
        None
    }
}

fn is_integer(text: &str) -> bool {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
}

/// A `minimum`/`maximum` (the schema has both numbers and strings) and how Proxmox prints it.
fn bound(value: &Value) -> Option<(f64, String)> {
    match value {
        Value::Number(n) => Some((n.as_f64()?, n.to_string())),
        Value::String(s) => Some((s.parse().ok()?, s.clone())),
        _ => None,
    }
}

/// `check_type` of PVE::JSONSchema: `false` when the value is refused (and says why).
fn check_type(path: &str, kind: Option<&str>, value: &Value, errors: &mut Errors) -> bool {
    let Some(kind) = kind else { return true };
    let reference = match value {
        Value::Array(_) => Some("ARRAY"),
        Value::Object(_) => Some("HASH"),
        Value::Bool(_) => Some("JSON::PP::Boolean"),
        _ => None,
    };
    let ok = match (kind, value) {
        ("any", _) => true,
        ("null", _) => {
            add_error(
                errors,
                path,
                "type check ('null') failed - value is not null",
            );
            return false;
        }
        ("array", Value::Array(_)) | ("object", Value::Object(_)) => true,
        ("array" | "object", _) => {
            add_error(errors, path, &format!("type check ('{kind}') failed"));
            return false;
        }
        ("boolean", Value::Bool(_)) => true,
        (_, _) if reference.is_some() => {
            add_error(
                errors,
                path,
                &format!(
                    "type check ('{kind}') failed - got {}",
                    reference.unwrap_or_default()
                ),
            );
            return false;
        }
        ("string", _) => true,
        ("boolean", scalar) => matches!(perl_string(scalar).as_str(), "0" | "1"),
        ("integer", scalar) => is_integer(&perl_string(scalar)),
        ("number", scalar) => parse_number(&perl_string(scalar)).is_some(),
        _ => true,
    };
    if !ok {
        add_error(
            errors,
            path,
            &format!(
                "type check ('{kind}') failed - got '{}'",
                perl_string(value)
            ),
        );
    }
    ok
}

/// `parse_property_string`: `net0=virtio,bridge=vmbr0` into `{model: virtio, bridge: vmbr0}`,
/// with aliases resolved and booleans normalised to 1/0.
fn parse_property_string(
    format: &Map<String, Value>,
    data: &str,
) -> Result<BTreeMap<String, Value>, String> {
    let mut parsed: BTreeMap<String, Value> = BTreeMap::new();
    let mut default_key: Option<String> = None;
    for part in data.split(',') {
        if part.trim().is_empty() {
            continue;
        }
        if let Some((key, value)) = part
            .split_once('=')
            .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        {
            if parsed.contains_key(key) {
                return Err(format!(
                    "duplicate key in comma-separated list property: {key}\n"
                ));
            }
            let mut key = key.to_owned();
            let mut schema = format.get(&key);
            if let Some(alias) = schema.and_then(|s| s["alias"].as_str()) {
                if let Some(key_alias) = schema.and_then(|s| s["keyAlias"].as_str()) {
                    if parsed.contains_key(key_alias) {
                        return Err(format!("key alias '{key_alias}' is already defined\n"));
                    }
                    parsed.insert(key_alias.to_owned(), Value::String(key.clone()));
                }
                key = alias.to_owned();
                schema = format.get(&key);
                if parsed.contains_key(&key) {
                    return Err(format!("key '{key}' is already defined (via alias)\n"));
                }
            }
            let Some(schema) = schema else {
                return Err(format!(
                    "invalid key in comma-separated list property: {key}\n"
                ));
            };
            parsed.insert(key, Value::String(normalise(schema, value)));
        } else if !part.contains('=') {
            if let Some(key) = &default_key {
                return Err(format!(
                    "duplicate key in comma-separated list property: {key}\n"
                ));
            }
            let Some((key, schema)) = format
                .iter()
                .find(|(_, schema)| truthy(&schema["default_key"]))
            else {
                return Err(
                    "value without key, but schema does not define a default key\n".to_owned(),
                );
            };
            if parsed.contains_key(key) {
                return Err(format!(
                    "duplicate key in comma-separated list property: {key}\n"
                ));
            }
            default_key = Some(key.clone());
            parsed.insert(key.clone(), Value::String(normalise(schema, part)));
        } else {
            return Err("missing key in comma-separated list property\n".to_owned());
        }
    }
    Ok(parsed)
}

fn normalise(schema: &Value, value: &str) -> String {
    if schema["type"] == "boolean" {
        let lower = value.to_ascii_lowercase();
        if matches!(lower.as_str(), "1" | "on" | "yes" | "true") {
            return "1".to_owned();
        }
        if matches!(lower.as_str(), "0" | "off" | "no" | "false") {
            return "0".to_owned();
        }
    }
    value.to_owned()
}

/// A named format; an error is the message Proxmox dies with.
fn check_named_format(format: &str, value: &str) -> Result<(), String> {
    if let Some(base) = format.strip_suffix("-list") {
        return value
            .split([',', ';', ' ', '\t', '\n', '\0'])
            .filter(|entry| !entry.is_empty())
            .try_for_each(|entry| check_single_format(base, entry));
    }
    if let Some(base) = format.strip_suffix("-opt") {
        return if value.is_empty() {
            Ok(())
        } else {
            check_single_format(base, value)
        };
    }
    check_single_format(format, value)
}

fn check_single_format(format: &str, value: &str) -> Result<(), String> {
    let label = |s: &str| {
        let bytes = s.as_bytes();
        !s.is_empty()
            && bytes[0].is_ascii_alphanumeric()
            && bytes[bytes.len() - 1].is_ascii_alphanumeric()
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    match format {
        "pve-node" if !label(value) => {
            Err("value does not look like a valid node name\n".to_owned())
        }
        "pve-vmid"
            if !(value.len() >= 3
                && value.len() <= 9
                && value.chars().all(|c| c.is_ascii_digit())
                && !value.starts_with('0')) =>
        {
            Err("value does not look like a valid VM ID\n".to_owned())
        }
        "dns-name" if !value.split('.').all(label) => {
            Err("value does not look like a valid DNS name\n".to_owned())
        }
        "pve-configid"
            if !(value.len() >= 2
                && value.starts_with(|c: char| c.is_ascii_alphabetic())
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')) =>
        {
            Err(format!("invalid configuration ID '{value}'\n"))
        }
        "pve-storage-id" if value.chars().count() < 2 => Err(format!(
            "storage ID '{value}' cannot be shorter than 2 characters\n"
        )),
        "pve-storage-id"
            if !(value.starts_with(|c: char| c.is_ascii_alphabetic())
                && value.ends_with(|c: char| c.is_ascii_alphanumeric())
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))) =>
        {
            Err(format!(
                "storage ID '{value}' contains illegal characters\n"
            ))
        }
        "pve-bridge-id"
            if value.is_empty()
                || !value
                    .chars()
                    .all(|c| c.is_alphanumeric() || "-_.".contains(c)) =>
        {
            Err(format!("invalid bridge ID '{value}'\n"))
        }
        "mac-addr" if !unicast_mac(value) => {
            Err("value does not look like a valid unicast MAC address\n".to_owned())
        }
        "ipv4" if value.parse::<Ipv4Addr>().is_err() => {
            Err("value does not look like a valid IPv4 address\n".to_owned())
        }
        "ipv6" if value.parse::<Ipv6Addr>().is_err() => {
            Err("value does not look like a valid IPv6 address\n".to_owned())
        }
        "ip" if value.parse::<std::net::IpAddr>().is_err() => {
            Err("value does not look like a valid IP address\n".to_owned())
        }
        "urlencoded"
            if !value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-%_.!~*'()".contains(c)) =>
        {
            Err(format!("invalid urlencoded string: {value}\n"))
        }
        _ => Ok(()),
    }
}

fn unicast_mac(value: &str) -> bool {
    let parts: Vec<&str> = value.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
        && u8::from_str_radix(parts[0], 16).is_ok_and(|first| first & 1 == 0)
}

/// Perl regex syntax the schema carries (stringified `qr//`) in the form the regex crate reads.
fn perl_to_rust_regex(pattern: &str) -> String {
    pattern
        .replace("(?^i:", "(?i:")
        .replace("(?^:", "(?:")
        .replace("{,", "{0,")
        .replace("\\0", "\\x00")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn params(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn the_schema_loads_and_routes_paths() {
        let schema = ApiSchema::shared();
        assert!(schema.endpoints.len() >= 400, "{}", schema.endpoints.len());
        let create = schema
            .route("POST", &["nodes".into(), "pve".into(), "qemu".into()])
            .map(|route| route.template.to_owned());
        assert_eq!(create.as_deref(), Some("/nodes/{node}/qemu"));
    }

    #[test]
    fn a_qemu_create_with_property_strings_passes() {
        let schema = ApiSchema::shared();
        let segments: Vec<String> = vec!["nodes".into(), "pve".into(), "qemu".into()];
        let route = schema.route("POST", &segments).expect("route");
        let errors = schema.check(
            route.method_info,
            &params(&[
                ("node", json!("pve")),
                ("vmid", json!("100")),
                ("name", json!("web-1")),
                ("memory", json!("2048")),
                ("cores", json!(2)),
                ("net0", json!("virtio,bridge=vmbr0,firewall=1")),
                ("scsi0", json!("local-lvm:32")),
                ("ide2", json!("local:iso/debian-12.iso,media=cdrom")),
                ("ostype", json!("l26")),
                ("start", json!(true)),
            ]),
        );
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn property_string_errors_name_the_sub_key() {
        let schema = ApiSchema::shared();
        let segments: Vec<String> = vec!["nodes".into(), "pve".into(), "lxc".into()];
        let route = schema.route("POST", &segments).expect("route");
        let errors = schema.check(
            route.method_info,
            &params(&[
                ("node", json!("pve")),
                ("vmid", json!(200)),
                ("ostemplate", json!("local:vztmpl/debian-12.tar.zst")),
                ("net0", json!("bridge=vmbr0,ip=dhcp")),
                ("net40", json!("name=eth0")),
            ]),
        );
        assert_eq!(
            errors.get("net0").map(String::as_str),
            Some(
                "invalid format - format error\nnet0.name: property is missing and it is not optional\n"
            )
        );
        assert!(errors["net40"].starts_with("property is not defined in schema"));
    }

    #[test]
    fn types_follow_perl_rules() {
        let mut errors = Errors::new();
        assert!(check_type("a", Some("integer"), &json!("42"), &mut errors));
        assert!(!check_type(
            "b",
            Some("integer"),
            &json!("4.2"),
            &mut errors
        ));
        assert!(!check_type(
            "c",
            Some("boolean"),
            &json!("true"),
            &mut errors
        ));
        assert!(check_type("d", Some("boolean"), &json!(1), &mut errors));
        assert!(!check_type("e", Some("string"), &json!(true), &mut errors));
        assert_eq!(errors["b"], "type check ('integer') failed - got '4.2'");
        assert_eq!(errors["c"], "type check ('boolean') failed - got 'true'");
        assert_eq!(
            errors["e"],
            "type check ('string') failed - got JSON::PP::Boolean"
        );
        assert!(parse_number("1.").is_some() && parse_number(".5").is_some());
        assert!(parse_number("1e5").is_some() && parse_number("e5").is_none());
    }
}
