//! Raw CDR pass-through: DDS readers and writers of already-serialized ROS 2 messages of any
//! type, for `play` and `record`. The bytes are never decoded, so a recording of a type fusor
//! has no struct for still plays and records, and nothing is lost to a decode/encode round.
//!
//! These are RustDDS entities on the context's participant; they match any ROS 2 peer by topic
//! and type name like ros2-client's, but are not listed in the ROS graph's node info.

use crate::typed::ros_name;
use crate::{dds_topic_name, message_type_name, Result, RosContext, RosError};
use ros2_client::dds::rustdds::{
    self, bytes::Bytes, no_key, QosPolicies, RepresentationIdentifier, StatusEvented, Timestamp, TopicKind,
};
use ros2_client::QosProfile;
use std::time::Duration;

/// One serialized message: the CDR payload *after* the 4-byte encapsulation header, and the
/// representation it was in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawCdr {
    /// The first two bytes of the encapsulation header (`00 01` little-endian CDR).
    pub representation: [u8; 2],
    /// The serialized fields.
    pub payload: Bytes,
}

impl RawCdr {
    /// Splits MCAP/wire bytes (with the 4-byte header) into a `RawCdr`; `None` when shorter than
    /// the header.
    pub fn from_message_bytes(bytes: &[u8]) -> Option<Self> {
        match bytes {
            [a, b, _, _, payload @ ..] => {
                Some(Self { representation: [*a, *b], payload: Bytes::copy_from_slice(payload) })
            }
            _ => None,
        }
    }

    /// The bytes as MCAP stores them: header (`rep rep 00 00`) then payload.
    pub fn to_message_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.payload.len() + 4);
        out.extend_from_slice(&self.representation);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.payload);
        out
    }

    /// True for little-endian plain CDR, the only representation [`RawWriter`] sends.
    pub fn is_cdr_le(&self) -> bool {
        self.representation == [0x00, 0x01]
    }
}

/// Serializer/deserializer adapter that passes bytes through.
#[derive(Debug)]
pub struct RawCdrAdapter;

/// The error of [`RawCdrAdapter`] (never produced by encoding; decoding rejects non-CDR data).
#[derive(Debug, thiserror::Error)]
#[error("raw CDR: {0}")]
pub struct RawCdrError(String);

const RAW_REPRESENTATIONS: [RepresentationIdentifier; 2] =
    [RepresentationIdentifier::CDR_LE, RepresentationIdentifier::CDR_BE];

impl no_key::SerializerAdapter<RawCdr> for RawCdrAdapter {
    type Error = RawCdrError;

    fn output_encoding() -> RepresentationIdentifier {
        RepresentationIdentifier::CDR_LE
    }

    fn to_bytes(value: &RawCdr) -> std::result::Result<Bytes, RawCdrError> {
        if value.is_cdr_le() {
            Ok(value.payload.clone())
        } else {
            Err(RawCdrError(format!("representation {:02x?} is not little-endian CDR", value.representation)))
        }
    }
}

impl no_key::DeserializerAdapter<RawCdr> for RawCdrAdapter {
    type Error = RawCdrError;
    type Decoded = RawCdr;

    fn supported_encodings() -> &'static [RepresentationIdentifier] {
        &RAW_REPRESENTATIONS
    }

    fn transform_decoded(decoded: RawCdr) -> RawCdr {
        decoded
    }
}

/// The decoder of [`RawCdrAdapter`]: copies the payload.
#[derive(Debug, Clone, Copy)]
pub struct RawCdrDecoder;

impl<'de> no_key::Decode<'de, RawCdr> for RawCdrDecoder {
    type Error = RawCdrError;

    fn decode_bytes(
        self,
        input_bytes: &'de [u8],
        encoding: RepresentationIdentifier,
    ) -> std::result::Result<RawCdr, RawCdrError> {
        Ok(RawCdr { representation: encoding.to_bytes(), payload: Bytes::copy_from_slice(input_bytes) })
    }
}

impl no_key::DefaultDecoder<RawCdr> for RawCdrAdapter {
    type Decoder = RawCdrDecoder;
    const DECODER: Self::Decoder = RawCdrDecoder;
}

/// A writer of pre-serialized messages of one ROS 2 type on one topic.
pub struct RawWriter {
    inner: no_key::DataWriter<RawCdr, RawCdrAdapter>,
    matched: std::cell::Cell<i32>,
    topic: String,
    type_name: String,
}

impl std::fmt::Debug for RawWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawWriter").field("topic", &self.topic).field("type", &self.type_name).finish()
    }
}

/// A reader of serialized messages of one ROS 2 type on one topic.
pub struct RawReader {
    inner: no_key::SimpleDataReader<RawCdr, RawCdrAdapter>,
    topic: String,
    type_name: String,
}

impl std::fmt::Debug for RawReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawReader").field("topic", &self.topic).field("type", &self.type_name).finish()
    }
}

fn dds_topic(ctx: &RosContext, topic: &str, type_name: &str, qos: &QosPolicies) -> Result<rustdds::Topic> {
    ros_name(topic)?;
    let dds_type = message_type_name(type_name)?.dds_msg_type();
    ctx.context
        .domain_participant()
        .create_topic(dds_topic_name(topic), dds_type, qos, TopicKind::NoKey)
        .map_err(RosError::dds)
}

impl RosContext {
    /// A raw writer on `topic` (absolute) announcing ROS 2 type `type_name` (`pkg/msg/Name`).
    pub fn raw_writer(&self, topic: &str, type_name: &str, qos: &QosProfile) -> Result<RawWriter> {
        let dds_qos = QosPolicies::from(qos);
        let t = dds_topic(self, topic, type_name, &dds_qos)?;
        let publisher = self.context.domain_participant().create_publisher(&dds_qos).map_err(RosError::dds)?;
        let inner =
            publisher.create_datawriter_no_key::<RawCdr, RawCdrAdapter>(&t, Some(dds_qos)).map_err(RosError::dds)?;
        Ok(RawWriter {
            inner,
            matched: std::cell::Cell::new(0),
            topic: topic.to_owned(),
            type_name: type_name.to_owned(),
        })
    }

    /// A raw reader on `topic` of ROS 2 type `type_name`.
    pub fn raw_reader(&self, topic: &str, type_name: &str, qos: &QosProfile) -> Result<RawReader> {
        let dds_qos = QosPolicies::from(qos);
        let t = dds_topic(self, topic, type_name, &dds_qos)?;
        let subscriber = self.context.domain_participant().create_subscriber(&dds_qos).map_err(RosError::dds)?;
        let inner = subscriber
            .create_simple_datareader_no_key::<RawCdr, RawCdrAdapter>(&t, Some(dds_qos))
            .map_err(RosError::dds)?;
        Ok(RawReader { inner, topic: topic.to_owned(), type_name: type_name.to_owned() })
    }
}

impl RawWriter {
    /// Sends one message (payload after the CDR header; little-endian only).
    pub fn write(&self, msg: RawCdr) -> Result<()> {
        self.inner
            .write(msg, Some(Timestamp::now()))
            .map_err(|e| RosError::Publish { topic: self.topic.clone(), why: format!("{e:?}") })
    }

    /// Readers matched so far.
    pub fn matched_readers(&self) -> usize {
        // RustDDS reports matching as status events; keep the latest current count.
        while let Some(status) = self.inner.try_recv_status() {
            if let rustdds::dds::statusevents::DataWriterStatus::PublicationMatched { current, .. } = status {
                self.matched.set(current.count());
            }
        }
        usize::try_from(self.matched.get()).unwrap_or(0)
    }

    /// Waits until every matched reliable reader acknowledged all samples, at most `max_wait`;
    /// `true` when they did.
    pub fn wait_for_acknowledgments(&self, max_wait: Duration) -> bool {
        self.inner.wait_for_acknowledgments(max_wait).unwrap_or(false)
    }

    /// The ROS topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The ROS 2 type (`pkg/msg/Name`).
    pub fn type_name(&self) -> &str {
        &self.type_name
    }
}

impl RawReader {
    /// Takes the next received sample with its DDS source timestamp (ns since the epoch),
    /// `Ok(None)` when none is waiting.
    pub fn take(&self) -> Result<Option<(RawCdr, Option<i64>)>> {
        // RustDDS asks for this before every take so that notifications keep coming.
        self.inner.drain_read_notifications();
        match self.inner.try_take_one() {
            Ok(Some(change)) => {
                let source_ns = change.source_timestamp().map(ticks_to_nanos);
                Ok(Some((change.into_value(), source_ns)))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(RosError::Read { topic: self.topic.clone(), why: format!("{e:?}") }),
        }
    }

    /// The ROS topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The ROS 2 type (`pkg/msg/Name`).
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// The RustDDS reader (escape hatch, e.g. to register with a `mio` poll).
    pub fn inner(&self) -> &no_key::SimpleDataReader<RawCdr, RawCdrAdapter> {
        &self.inner
    }
}

/// An RTPS timestamp (seconds << 32 | 2^-32 fractions) in ns since the epoch.
fn ticks_to_nanos(t: Timestamp) -> i64 {
    let ticks = t.to_ticks();
    let seconds = (ticks >> 32) as i64;
    let fraction_ns = (((ticks & 0xffff_ffff) as u128 * 1_000_000_000) >> 32) as i64;
    seconds.saturating_mul(1_000_000_000).saturating_add(fraction_ns)
}
