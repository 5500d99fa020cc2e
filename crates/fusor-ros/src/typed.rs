//! Publishers and subscriptions over `fusor-msgs` structs (serde, IDL field order).

use crate::{message_type_name, Result, RosContext, RosError};
use fusor_core::Stamp;
use fusor_msgs::RosMessage;
use ros2_client::{Name, QosProfile};

/// A ROS 2 publisher of `M`.
pub struct TypedPublisher<M: RosMessage> {
    inner: ros2_client::Publisher<M>,
    topic: String,
}

impl<M: RosMessage> std::fmt::Debug for TypedPublisher<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedPublisher").field("topic", &self.topic).field("type", &M::TYPE_NAME).finish()
    }
}

/// A ROS 2 subscription to `M`.
pub struct TypedSubscription<M: RosMessage> {
    inner: ros2_client::Subscription<M>,
    topic: String,
}

impl<M: RosMessage> std::fmt::Debug for TypedSubscription<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedSubscription").field("topic", &self.topic).field("type", &M::TYPE_NAME).finish()
    }
}

pub(crate) fn ros_name(topic: &str) -> Result<Name> {
    Name::parse(topic).map_err(|e| RosError::BadName { name: topic.to_owned(), why: format!("{e:?}") })
}

impl RosContext {
    /// Creates a publisher of `M` on `topic` (absolute, or relative to the node's namespace).
    pub fn publisher<M: RosMessage + 'static>(&mut self, topic: &str, qos: &QosProfile) -> Result<TypedPublisher<M>> {
        let name = ros_name(topic)?;
        let ros_topic = self.node.create_topic(&name, message_type_name(M::TYPE_NAME)?, qos).map_err(RosError::dds)?;
        let inner = self.node.create_publisher::<M>(&ros_topic, Some(qos.clone())).map_err(RosError::dds)?;
        Ok(TypedPublisher { inner, topic: topic.to_owned() })
    }

    /// Creates a subscription to `M` on `topic`.
    pub fn subscription<M: RosMessage + 'static>(
        &mut self,
        topic: &str,
        qos: &QosProfile,
    ) -> Result<TypedSubscription<M>> {
        let name = ros_name(topic)?;
        let ros_topic = self.node.create_topic(&name, message_type_name(M::TYPE_NAME)?, qos).map_err(RosError::dds)?;
        let inner = self.node.create_subscription::<M>(&ros_topic, Some(qos.clone())).map_err(RosError::dds)?;
        Ok(TypedSubscription { inner, topic: topic.to_owned() })
    }
}

impl<M: RosMessage> TypedPublisher<M> {
    /// Publishes one message (blocks at most the QoS's `when_full` wait on a full reliable
    /// history).
    pub fn publish(&self, msg: M) -> Result<()> {
        // `WriteError` carries the message back; only its Display is wanted here.
        self.inner.publish(msg).map_err(|e| RosError::Publish { topic: self.topic.clone(), why: e.to_string() })
    }

    /// The ROS topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Subscriptions currently matched (by DDS discovery).
    pub fn matched_subscriptions(&self, ctx: &RosContext) -> usize {
        self.inner.get_subscription_count(&ctx.node)
    }

    /// The ros2-client publisher (escape hatch).
    pub fn inner(&self) -> &ros2_client::Publisher<M> {
        &self.inner
    }
}

impl<M: RosMessage + 'static> TypedSubscription<M> {
    /// Takes the next received message with its DDS source timestamp, `Ok(None)` when none is
    /// waiting. A sample that does not decode is an error; the subscription stays usable.
    pub fn take(&self) -> Result<Option<(M, Option<Stamp>)>> {
        match self.inner.take() {
            Ok(Some((msg, info))) => {
                let stamp = info.source_timestamp().map(|t| Stamp(t.to_nanos()));
                Ok(Some((msg, stamp)))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(RosError::Read { topic: self.topic.clone(), why: format!("{e:?}") }),
        }
    }

    /// The ROS topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Publishers currently matched.
    pub fn matched_publishers(&self, ctx: &RosContext) -> usize {
        self.inner.get_publisher_count(&ctx.node)
    }

    /// The ros2-client subscription (escape hatch, e.g. to register with a `mio` poll).
    pub fn inner(&self) -> &ros2_client::Subscription<M> {
        &self.inner
    }
}
