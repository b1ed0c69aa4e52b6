//! The JSON API of this feature.

use serde_json::{Map, Value};

/// This feature's OpenAPI paths and schemas.
pub fn openapi() -> (Map<String, Value>, Map<String, Value>) {
    (Map::new(), Map::new())
}
