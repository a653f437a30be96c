//! One message as group templates see it (`m` in `{% for m in group.messages %}`).

use std::sync::Arc;

use chatdump_core::time::format_utc;
use jiff::Timestamp;
use minijinja::value::{Enumerator, Object, Value};

use crate::stats::Kind;

/// Renders message text (controls already cleaned) into ready HTML or Markdown.
pub type RenderFn = fn(&str) -> String;

/// The fields a group template can read from a message.
pub(crate) const FIELDS: &[&str] = &[
    "id",
    "anchor",
    "name",
    "participant_id",
    "datetime",
    "time",
    "date_time",
    "pinned",
    "edited",
    "kind",
    "reply",
    "payload_type",
    "text",
    "quoted",
    "url",
    "image_src",
    "url_text",
    "file_name",
    "file_size",
    "file_size_bytes",
    "payload",
];

/// A message ready for a template. A struct rather than a map, and the costly fields (the
/// rendered text, the UTC timestamp) computed only when a template reads them, on the thread
/// that renders the group.
#[derive(Debug)]
pub(crate) struct MessageView {
    pub(crate) id: String,
    pub(crate) anchor: String,
    pub(crate) name: String,
    pub(crate) participant_id: String,
    pub(crate) at: Timestamp,
    pub(crate) time: String,
    pub(crate) date_time: String,
    pub(crate) pinned: bool,
    pub(crate) edited: bool,
    pub(crate) kind: Kind,
    pub(crate) payload_type: String,
    /// The text, controls cleaned, rendered by `render_text` when read.
    pub(crate) text: Option<String>,
    /// A reply's quoted text, rendered by `render_quoted` when read.
    pub(crate) quoted: Option<String>,
    pub(crate) render_text: RenderFn,
    pub(crate) render_quoted: RenderFn,
    pub(crate) url: Option<String>,
    pub(crate) image_src: Option<String>,
    pub(crate) url_text: Option<String>,
    pub(crate) file_name: Option<String>,
    pub(crate) file_size: Option<String>,
    pub(crate) file_size_bytes: Option<u64>,
    pub(crate) payload: Option<String>,
}

fn text(value: Option<&String>) -> Value {
    value.map_or(Value::from(()), |text| Value::from(text.as_str()))
}

impl Object for MessageView {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(match key.as_str()? {
            "id" => Value::from(self.id.as_str()),
            "anchor" => Value::from_safe_string(self.anchor.clone()),
            "name" => Value::from(self.name.as_str()),
            "participant_id" => Value::from(self.participant_id.as_str()),
            "datetime" => Value::from(format_utc(self.at)),
            "time" => Value::from(self.time.as_str()),
            "date_time" => Value::from(self.date_time.as_str()),
            "pinned" => Value::from(self.pinned),
            "edited" => Value::from(self.edited),
            "kind" => Value::from(self.kind.as_str()),
            "reply" => Value::from(self.kind == Kind::Reply),
            "payload_type" => Value::from(self.payload_type.as_str()),
            "text" => self.text.as_ref().map_or(Value::from(()), |body| {
                Value::from_safe_string((self.render_text)(body))
            }),
            "quoted" => self.quoted.as_ref().map_or(Value::from(()), |body| {
                Value::from_safe_string((self.render_quoted)(body))
            }),
            "url" => text(self.url.as_ref()),
            "image_src" => text(self.image_src.as_ref()),
            "url_text" => text(self.url_text.as_ref()),
            "file_name" => text(self.file_name.as_ref()),
            "file_size" => text(self.file_size.as_ref()),
            "file_size_bytes" => Value::from(self.file_size_bytes),
            "payload" => text(self.payload.as_ref()),
            _ => return None,
        })
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(FIELDS)
    }
}
