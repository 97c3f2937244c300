//! Checking requests and responses against a published OpenAPI document.
//!
//! A fake loads the service's spec from `../shared/wire/`, finds the operation for each request
//! it receives (method + path template), and validates the JSON body against the operation's
//! schema with `jsonschema`. Problems are recorded on the call, so a test fails on anything the
//! real service would have refused or that its documentation does not allow.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::Method;
use jsonschema::{Draft, Validator};
use serde_json::Value;

pub struct Spec {
    name: String,
    doc: Value,
    /// Path prefix the spec's paths are relative to, e.g. `/api/v10` for Discord.
    base_path: String,
    draft: Draft,
    validators: Mutex<HashMap<String, Arc<Validator>>>,
}

/// The operation a request matched.
pub struct Operation<'a> {
    /// The spec's path template, e.g. `/channels/{channel_id}/messages`.
    pub template: &'a str,
    pub spec: &'a Value,
}

impl Spec {
    /// Loads `file` (relative to `../shared/wire/`), whose paths are served under `base_path`.
    pub fn load(file: &str, base_path: &str) -> Self {
        let path = crate::wire_dir().join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
        let doc: Value = serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("parse {}: {error}", path.display()));
        let version = doc["openapi"].as_str().unwrap_or("3.0");
        // OpenAPI 3.1 schemas are JSON Schema 2020-12; 3.0 schemas are close to draft 4.
        let draft = if version.starts_with("3.1") {
            Draft::Draft202012
        } else {
            Draft::Draft4
        };
        Self {
            name: file.to_owned(),
            doc,
            base_path: base_path.trim_end_matches('/').to_owned(),
            draft,
            validators: Mutex::default(),
        }
    }

    pub fn doc(&self) -> &Value {
        &self.doc
    }

    /// The operation for `method` on `path` (query string ignored). Where several templates
    /// match, the one with the most literal segments wins (`/users/@me` over `/users/{id}`).
    pub fn operation(&self, method: &Method, path: &str) -> Option<Operation<'_>> {
        let path = path.split('?').next().unwrap_or(path);
        let path = path.strip_prefix(&self.base_path).unwrap_or(path);
        let wanted: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        let method = method.as_str().to_ascii_lowercase();
        let mut best: Option<(usize, &str, &Value)> = None;
        for (template, item) in self.doc["paths"].as_object()? {
            let Some(operation) = item.get(&method) else {
                continue;
            };
            let parts: Vec<&str> = template.trim_end_matches('/').split('/').collect();
            if parts.len() != wanted.len() {
                continue;
            }
            let mut literal = 0;
            let matched = parts.iter().zip(&wanted).all(|(part, actual)| {
                if part.starts_with('{') && part.ends_with('}') {
                    !actual.is_empty()
                } else {
                    literal += 1;
                    part == actual
                }
            });
            if matched && best.is_none_or(|(score, _, _)| literal > score) {
                best = Some((literal, template.as_str(), operation));
            }
        }
        best.map(|(_, template, spec)| Operation { template, spec })
    }

    /// What is wrong with a request: an unknown operation, a missing required body, a body where
    /// none is allowed, or a body that does not match the schema.
    pub fn check_request(&self, method: &Method, path: &str, body: Option<&Value>) -> Vec<String> {
        let Some(operation) = self.operation(method, path) else {
            return vec![format!("{} has no operation {method} {path}", self.name)];
        };
        let request_body = &operation.spec["requestBody"];
        let schema = &request_body["content"]["application/json"]["schema"];
        match body {
            None if request_body["required"].as_bool() == Some(true) => {
                vec![format!(
                    "{method} {} requires a JSON body",
                    operation.template
                )]
            }
            None => Vec::new(),
            Some(_) if schema.is_null() => {
                vec![format!(
                    "{method} {} takes no JSON body",
                    operation.template
                )]
            }
            Some(body) => self.validate(
                &format!("{method} {} request", operation.template),
                schema,
                body,
            ),
        }
    }

    /// What is wrong with a response the fake is about to send (keeps the fake honest).
    pub fn check_response(
        &self,
        method: &Method,
        path: &str,
        status: u16,
        body: &Value,
    ) -> Vec<String> {
        let Some(operation) = self.operation(method, path) else {
            return vec![format!("{} has no operation {method} {path}", self.name)];
        };
        let responses = &operation.spec["responses"];
        let response = match responses.get(status.to_string()) {
            Some(response) => response,
            None => match responses.get("default") {
                Some(response) => response,
                None => {
                    return vec![format!(
                        "{method} {} does not document status {status}",
                        operation.template
                    )];
                }
            },
        };
        let response = self.resolve(response);
        let schema = &response["content"]["application/json"]["schema"];
        if schema.is_null() {
            return Vec::new();
        }
        self.validate(
            &format!("{method} {} {status} response", operation.template),
            schema,
            body,
        )
    }

    /// Follows a `$ref` to `#/components/...` once.
    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
            Some(pointer) => self.doc.pointer(pointer).unwrap_or(value),
            None => value,
        }
    }

    fn validate(&self, what: &str, schema: &Value, instance: &Value) -> Vec<String> {
        let validator = match self.validator(what, schema) {
            Ok(validator) => validator,
            Err(problem) => return vec![problem],
        };
        validator
            .iter_errors(instance)
            .map(|error| format!("{what}: {error} (at {})", error.instance_path()))
            .collect()
    }

    fn validator(&self, key: &str, schema: &Value) -> Result<Arc<Validator>, String> {
        let mut cache = self
            .validators
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(validator) = cache.get(key) {
            return Ok(validator.clone());
        }
        // The operation's schema becomes the root of a document that also carries the spec's
        // components, so `#/components/...` references resolve as they do in the spec.
        let mut root = match schema {
            Value::Object(object) => object.clone(),
            other => return Err(format!("{key}: the schema is not an object: {other}")),
        };
        let components = self.doc["components"].clone();
        let root = if root.contains_key("$ref") && self.draft == Draft::Draft4 {
            // Draft 4 ignores keys beside $ref; wrap it so the components sit beside an allOf.
            serde_json::json!({ "allOf": [Value::Object(root)], "components": components })
        } else {
            root.insert("components".into(), components);
            Value::Object(root)
        };
        let validator = jsonschema::options()
            .with_draft(self.draft)
            .should_validate_formats(false)
            .build(&root)
            .map_err(|error| format!("{key}: the spec's schema does not compile: {error}"))?;
        let validator = Arc::new(validator);
        cache.insert(key.to_owned(), validator.clone());
        Ok(validator)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn discord_message_bodies_are_checked() {
        let spec = Spec::load("discord/openapi.json", "/api/v10");
        let path = "/api/v10/channels/4000/messages";
        let ok = json!({"content": "hello", "allowed_mentions": {"parse": []}});
        assert_eq!(
            spec.check_request(&Method::POST, path, Some(&ok)),
            Vec::<String>::new()
        );
        let bad = json!({"content": 42, "allowed_mentions": {"parse": ["nobody"]}});
        assert!(
            !spec
                .check_request(&Method::POST, path, Some(&bad))
                .is_empty()
        );
        assert!(
            !spec
                .check_request(&Method::POST, "/api/v10/no/such/route", None)
                .is_empty()
        );
        let me = spec
            .operation(&Method::GET, "/api/v10/users/@me")
            .expect("an operation");
        assert_eq!(me.template, "/users/@me");
    }

    #[test]
    fn paypal_order_bodies_are_checked() {
        let spec = Spec::load("paypal/checkout_orders_v2.json", "");
        let ok = json!({"intent": "CAPTURE", "purchase_units": [{"amount": {"currency_code": "USD", "value": "10.00"}}]});
        assert_eq!(
            spec.check_request(&Method::POST, "/v2/checkout/orders", Some(&ok)),
            Vec::<String>::new()
        );
        let bad = json!({"intent": "STEAL", "purchase_units": []});
        assert!(
            !spec
                .check_request(&Method::POST, "/v2/checkout/orders", Some(&bad))
                .is_empty()
        );
    }
}
