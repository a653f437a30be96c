//! Participant data joined onto messages: the `user_id` and `custom_participant_id` columns of
//! schema version 2 (bulk export, `--with-participants`).

use std::collections::HashMap;

/// The ids the participants route gives one participant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParticipantIds {
    /// The user id, if any.
    pub user_id: Option<String>,
    /// The organisation's own id for the participant, if any.
    pub custom_participant_id: Option<String>,
}

/// Participant (peer) id, as in the dump's `participantId`, to its ids. Set as
/// [`crate::ParquetOptions::participants`], it makes files use schema version 2.
pub type Participants = HashMap<String, ParticipantIds>;

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Array as _, AsArray as _};
    use chatdump_core::export::{ExportContext, Exporter as _};
    use chatdump_core::reader::{ChatReader, ReaderOptions};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;
    use crate::{ParquetOptions, ParquetWriter};

    #[test]
    fn version_2_joins_participants_and_leaves_unknown_ones_null() {
        let csv = "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt\n\
                   m1,p1,s1,mt,Ann,false,false,TEXT_MESSAGE,hi,2024-05-14T09:00:00.000Z\n\
                   m2,p2,s1,mt,Bob,false,false,TEXT_MESSAGE,yo,2024-05-14T09:00:01.000Z\n";
        let participants: Participants = [(
            "p1".to_owned(),
            ParticipantIds {
                user_id: Some("u1".into()),
                custom_participant_id: None,
            },
        )]
        .into();
        let options = ParquetOptions {
            participants: Some(Arc::new(participants)),
            ..ParquetOptions::default()
        };
        let mut reader =
            ChatReader::new(csv.as_bytes(), "t.csv", ReaderOptions::default()).unwrap();
        let mut writer = ParquetWriter::new_inline(Vec::new(), options);
        writer.begin(&ExportContext::default()).unwrap();
        while let Some(message) = reader.next_message() {
            writer.message(&message.unwrap()).unwrap();
        }
        writer.finish().unwrap();
        let bytes = bytes_of(&writer.into_inner().unwrap());
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
        let metadata = builder
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .unwrap()
            .clone();
        assert!(metadata.iter().any(
            |pair| pair.key == "chatdump.schema_version" && pair.value.as_deref() == Some("2")
        ));
        let batch = builder.build().unwrap().next().unwrap().unwrap();
        assert_eq!(
            batch.schema().fields().len(),
            crate::schema().fields().len() + 2
        );
        let user = batch.column_by_name("user_id").unwrap().as_string::<i32>();
        assert_eq!(user.value(0), "u1");
        assert!(user.is_null(1));
        let custom = batch
            .column_by_name("custom_participant_id")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(custom.null_count(), 2);
        let version = batch
            .column(0)
            .as_primitive::<arrow::datatypes::Int32Type>();
        assert_eq!(version.value(0), crate::SCHEMA_VERSION_PARTICIPANTS);
    }

    /// The bytes as a file the reader can seek in.
    fn bytes_of(bytes: &[u8]) -> std::fs::File {
        use std::io::Write as _;
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        file
    }
}
