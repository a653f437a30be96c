//! The chat dumps the server hands out: deterministic CSV, different for every session.

use std::fmt::Write as _;

/// The documented header, in the documented order.
const HEADER: &str = "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt\n";

pub(crate) const PEOPLE: [(&str, &str); 4] = [
    ("e32fb785-ddd0-4b96-b577-879327c0082f", "Mary Sue (Host)"),
    ("023d3ea6-0af0-40ad-8aa3-6645c4ff1db8", "José Álvarez"),
    ("51fdf95f-d893-471a-922b-7db7adb14453", "李雷"),
    ("6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d", "Doe, Jane"),
];

/// Quotes a CSV field when it needs it (RFC 4180).
fn field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

/// The chat dump of `session_id`: the header and `messages` records in chronological order,
/// with commas, quotes, newlines and non-ASCII text in some payloads.
#[must_use]
pub fn chat_csv(session_id: &str, messages: usize) -> Vec<u8> {
    let mut out = String::from(HEADER);
    for index in 0..messages {
        let (participant, name) = PEOPLE[index % PEOPLE.len()];
        let payload = match index % 5 {
            0 => format!("Message {index}: hello from {name}"),
            1 => format!("Numbers, commas and \"quotes\" in message {index}"),
            2 => format!("A two-line message {index}\nsecond line ☀️"),
            3 => format!("<blockquote>Message {}</blockquote>\n\nA reply", index - 1),
            _ => format!("Plain message number {index} with some padding to make the dump longer"),
        };
        let seconds = index * 7;
        let _ = writeln!(
            out,
            "msg-{index:06},{participant},{},meeting-1,{},{},false,TEXT_MESSAGE,{},2024-05-14T{:02}:{:02}:{:02}.{:03}Z",
            field(session_id),
            field(name),
            index % 50 == 7,
            field(&payload),
            9 + seconds / 3600,
            seconds / 60 % 60,
            seconds % 60,
            index % 1000,
        );
    }
    out.into_bytes()
}

/// The length of the longest prefix of `csv` that ends at a record boundary and is at most
/// `limit` bytes: a cut there still leaves valid CSV, which only a byte count can catch.
#[must_use]
pub fn record_boundary_before(csv: &[u8], limit: usize) -> usize {
    let mut quoted = false;
    let mut boundary = 0;
    for (index, byte) in csv.iter().enumerate().take(limit) {
        match byte {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => boundary = index + 1,
            _ => {}
        }
    }
    boundary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dumps_are_deterministic_and_cut_at_records() {
        let csv = chat_csv("s1", 20);
        assert_eq!(csv, chat_csv("s1", 20));
        let cut = record_boundary_before(&csv, csv.len() / 2);
        assert!(cut > HEADER.len());
        assert_eq!(csv[cut - 1], b'\n');
        let prefix = String::from_utf8_lossy(&csv[..cut]);
        assert_eq!(prefix.matches('"').count() % 2, 0);
    }
}
