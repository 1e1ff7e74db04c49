//! The resource isolators: `resource/cpu` and `resource/memory` ({request, limit}, `default`
//! false or absent) and the three device limits ({default: true, limit}, no request).

use serde_json::{Map, Value};

use super::{IsolatorError, as_object, bad_field, field};
use crate::quantity::Quantity;

/// `resource/cpu` (cores; `500m` is half a core) or `resource/memory` (bytes). Both fields are
/// optional, as in appc's Go code.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourceRequestLimit {
    pub request: Option<Quantity>,
    pub limit: Option<Quantity>,
}

impl ResourceRequestLimit {
    /// What the app is guaranteed: the request, which defaults to the limit.
    pub fn effective_request(&self) -> Option<Quantity> {
        self.request.or(self.limit)
    }

    pub(super) fn to_json(&self) -> Value {
        let mut obj = Map::new();
        if let Some(r) = &self.request {
            obj.insert("request".into(), Value::String(r.to_string()));
        }
        if let Some(l) = &self.limit {
            obj.insert("limit".into(), Value::String(l.to_string()));
        }
        Value::Object(obj)
    }
}

/// `resource/network-bandwidth` (bytes/s), `resource/block-bandwidth` (bytes/s) or
/// `resource/block-iops` (operations/s): a limit applied to every device by default.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourceDefaultLimit {
    pub limit: Option<Quantity>,
}

impl ResourceDefaultLimit {
    pub(super) fn to_json(&self) -> Value {
        match &self.limit {
            Some(l) => serde_json::json!({ "default": true, "limit": l.to_string() }),
            None => serde_json::json!({ "default": true }),
        }
    }
}

fn quantity_field(
    name: &str,
    obj: &Map<String, Value>,
    key: &'static str,
) -> Result<Option<Quantity>, IsolatorError> {
    let Some(raw) = field(obj, key) else {
        return Ok(None);
    };
    let parsed = match raw {
        Value::String(s) => s.parse::<Quantity>(),
        Value::Number(n) => n.to_string().parse::<Quantity>(),
        other => {
            return Err(bad_field(
                name,
                key,
                other,
                "must be a quantity string or number",
            ));
        }
    };
    let q = parsed.map_err(|error| IsolatorError::Quantity {
        name: name.to_string(),
        field: key,
        error,
    })?;
    if q.is_negative() {
        return Err(bad_field(name, key, raw, "must not be negative"));
    }
    Ok(Some(q))
}

fn default_flag(name: &str, obj: &Map<String, Value>) -> Result<bool, IsolatorError> {
    match field(obj, "default") {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(bad_field(name, "default", other, "must be true or false")),
    }
}

pub(super) fn parse_request_limit(
    name: &str,
    value: &Value,
) -> Result<ResourceRequestLimit, IsolatorError> {
    let obj = as_object(
        name,
        value,
        "an object {\"request\": quantity, \"limit\": quantity}",
    )?;
    if default_flag(name, obj)? {
        return Err(bad_field(
            name,
            "default",
            &Value::Bool(true),
            "must be false or absent",
        ));
    }
    Ok(ResourceRequestLimit {
        request: quantity_field(name, obj, "request")?,
        limit: quantity_field(name, obj, "limit")?,
    })
}

pub(super) fn parse_default_limit(
    name: &str,
    value: &Value,
) -> Result<ResourceDefaultLimit, IsolatorError> {
    let obj = as_object(
        name,
        value,
        "an object {\"default\": true, \"limit\": quantity}",
    )?;
    if !default_flag(name, obj)? {
        let shown = field(obj, "default").cloned().unwrap_or(Value::Null);
        return Err(bad_field(
            name,
            "default",
            &shown,
            "must be true (the limit applies to every device)",
        ));
    }
    if let Some(request) = field(obj, "request") {
        return Err(bad_field(
            name,
            "request",
            request,
            "is not supported by this resource; remove it",
        ));
    }
    Ok(ResourceDefaultLimit {
        limit: quantity_field(name, obj, "limit")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(s: &str) -> Quantity {
        s.parse().unwrap()
    }

    #[test]
    fn cpu_and_memory_examples() {
        let cpu = parse_request_limit("resource/cpu", &json!({"request": "250m", "limit": "500m"}))
            .unwrap();
        assert_eq!(cpu.request.unwrap().milli_value(), 250);
        assert_eq!(cpu.limit.unwrap().milli_value(), 500);
        let mem = parse_request_limit("resource/memory", &json!({"request": "1G", "limit": "2G"}))
            .unwrap();
        assert_eq!(mem.limit.unwrap().value_ceil(), 2_000_000_000);
        let numeric =
            parse_request_limit("resource/cpu", &json!({"limit": 0.5, "default": false})).unwrap();
        assert_eq!(numeric.limit, Some(q("500m")));
        assert_eq!(numeric.effective_request(), Some(q("500m")));
        let keys =
            parse_request_limit("resource/cpu", &json!({"Limit": "1", "REQUEST": null})).unwrap();
        assert_eq!(
            keys,
            ResourceRequestLimit {
                request: None,
                limit: Some(q("1"))
            }
        );
        assert_eq!(
            parse_request_limit("x", &json!({})).unwrap(),
            ResourceRequestLimit::default()
        );
    }

    #[test]
    fn cpu_and_memory_rules() {
        for bad in [
            json!({"default": true, "limit": "1"}),
            json!({"limit": "-1"}),
            json!({"limit": "1K"}),
            json!({"limit": true}),
            json!({"default": "no"}),
            json!("1"),
        ] {
            assert!(
                parse_request_limit("resource/memory", &bad).is_err(),
                "{bad}"
            );
        }
        let err = parse_request_limit("resource/memory", &json!({"limit": "1K"})).unwrap_err();
        assert!(
            matches!(err, IsolatorError::Quantity { field: "limit", .. }),
            "{err}"
        );
        assert!(err.to_string().contains("resource/memory"), "{err}");
    }

    #[test]
    fn device_limits() {
        let ok = parse_default_limit(
            "resource/block-iops",
            &json!({"default": true, "limit": "1000"}),
        )
        .unwrap();
        assert_eq!(ok.limit, Some(q("1k")));
        let bw = parse_default_limit(
            "resource/block-bandwidth",
            &json!({"default": true, "limit": "2M"}),
        )
        .unwrap();
        assert_eq!(bw.limit.unwrap().value_ceil(), 2_000_000);
        for bad in [
            json!({"limit": "1"}),
            json!({"default": false, "limit": "1"}),
            json!({"default": true, "request": "1", "limit": "1"}),
            json!({"default": true, "limit": "-5"}),
        ] {
            assert!(
                parse_default_limit("resource/network-bandwidth", &bad).is_err(),
                "{bad}"
            );
        }
    }
}
