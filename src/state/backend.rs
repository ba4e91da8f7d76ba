//! The one `impl StateStore` both backends share, written once: each
//! method forwards to the function of the same name in the backend's own
//! modules (`runs`, `queries`, `outbox`, `subscribers`), which hold its SQL.
//! A backend's folder thus reads as the contract's parts, and a method added
//! to the trait is one line here and one function per backend.

macro_rules! impl_state_store {
    ($store:ty) => {
        impl $crate::state::StateStore for $store {
            fn close(&self) -> impl std::future::Future<Output = ()> + Send {
                self.pool.close()
            }

            fn begin_run(
                &self,
                blog: &str,
                now: chrono::DateTime<chrono::Utc>,
                wait: std::time::Duration,
            ) -> impl std::future::Future<
                Output = Result<$crate::state::RunGuard, $crate::state::StateError>,
            > + Send {
                runs::begin_run(self, blog, now, wait)
            }

            fn heartbeat(
                &self,
                run: &$crate::state::RunGuard,
                now: chrono::DateTime<chrono::Utc>,
                lease: std::time::Duration,
            ) -> impl std::future::Future<Output = Result<(), $crate::state::StateError>> + Send
            {
                runs::heartbeat(self, run, now, lease)
            }

            fn finish_run(
                &self,
                run: $crate::state::RunGuard,
                now: chrono::DateTime<chrono::Utc>,
                summary_json: &str,
            ) -> impl std::future::Future<Output = Result<(), $crate::state::StateError>> + Send
            {
                runs::finish_run(self, run, now, summary_json)
            }

            fn has_history(
                &self,
                blog: &str,
            ) -> impl std::future::Future<Output = Result<bool, $crate::state::StateError>> + Send
            {
                queries::has_history(self, blog)
            }

            fn seen_posts(
                &self,
                blog: &str,
            ) -> impl std::future::Future<
                Output = Result<Vec<$crate::state::SeenPost>, $crate::state::StateError>,
            > + Send {
                queries::seen_posts(self, blog)
            }

            fn record(
                &self,
                blog: &str,
                now: chrono::DateTime<chrono::Utc>,
                seen: &[$crate::state::SeenPost],
                announce: &[$crate::state::Announcement],
            ) -> impl std::future::Future<Output = Result<usize, $crate::state::StateError>> + Send
            {
                outbox::record(self, blog, now, seen, announce)
            }

            fn claim_due(
                &self,
                blog: &str,
                run: &$crate::state::RunGuard,
                now: chrono::DateTime<chrono::Utc>,
                lease: std::time::Duration,
                limit: usize,
            ) -> impl std::future::Future<
                Output = Result<Vec<$crate::state::Claimed>, $crate::state::StateError>,
            > + Send {
                outbox::claim_due(self, blog, run, now, lease, limit)
            }

            fn mark_sent(
                &self,
                id: i64,
                now: chrono::DateTime<chrono::Utc>,
            ) -> impl std::future::Future<Output = Result<(), $crate::state::StateError>> + Send
            {
                outbox::mark_sent(self, id, now)
            }

            fn mark_sent_many(
                &self,
                ids: &[i64],
                now: chrono::DateTime<chrono::Utc>,
            ) -> impl std::future::Future<Output = Result<(), $crate::state::StateError>> + Send
            {
                outbox::mark_sent_many(self, ids, now)
            }

            fn settle(
                &self,
                outcomes: &[$crate::state::Settlement],
            ) -> impl std::future::Future<Output = Result<(), $crate::state::StateError>> + Send
            {
                outbox::settle(self, outcomes)
            }

            fn mark_failed(
                &self,
                id: i64,
                now: chrono::DateTime<chrono::Utc>,
                error: &str,
                next_attempt_at: Option<chrono::DateTime<chrono::Utc>>,
                dead: bool,
            ) -> impl std::future::Future<Output = Result<(), $crate::state::StateError>> + Send
            {
                outbox::mark_failed(self, id, now, error, next_attempt_at, dead)
            }

            fn release(
                &self,
                id: i64,
            ) -> impl std::future::Future<Output = Result<(), $crate::state::StateError>> + Send
            {
                outbox::release(self, id)
            }

            fn disable_subscriber(
                &self,
                blog: &str,
                subscriber: &str,
                now: chrono::DateTime<chrono::Utc>,
                reason: &str,
            ) -> impl std::future::Future<Output = Result<(), $crate::state::StateError>> + Send
            {
                outbox::disable_subscriber(self, blog, subscriber, now, reason)
            }

            fn disabled_subscribers(
                &self,
                blog: &str,
            ) -> impl std::future::Future<
                Output = Result<Vec<(String, String)>, $crate::state::StateError>,
            > + Send {
                queries::disabled_subscribers(self, blog)
            }

            fn open_deliveries(
                &self,
                blog: &str,
            ) -> impl std::future::Future<
                Output = Result<Vec<$crate::state::DeliveryRow>, $crate::state::StateError>,
            > + Send {
                queries::open_deliveries(self, blog)
            }

            fn counts(
                &self,
                blog: &str,
            ) -> impl std::future::Future<
                Output = Result<std::collections::BTreeMap<String, u64>, $crate::state::StateError>,
            > + Send {
                queries::counts(self, blog)
            }

            fn retry_dead(
                &self,
                blog: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> impl std::future::Future<Output = Result<u64, $crate::state::StateError>> + Send
            {
                outbox::retry_dead(self, blog, now)
            }

            fn retry_now(
                &self,
                blog: &str,
                id: Option<i64>,
                now: chrono::DateTime<chrono::Utc>,
            ) -> impl std::future::Future<Output = Result<u64, $crate::state::StateError>> + Send
            {
                outbox::retry_now(self, blog, id, now)
            }

            fn history(
                &self,
                blog: &str,
                filter: &$crate::state::HistoryFilter,
            ) -> impl std::future::Future<
                Output = Result<Vec<$crate::state::SentDelivery>, $crate::state::StateError>,
            > + Send {
                queries::history(self, blog, filter)
            }

            fn gauges(
                &self,
                blog: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> impl std::future::Future<
                Output = Result<$crate::state::Gauges, $crate::state::StateError>,
            > + Send {
                queries::gauges(self, blog, now)
            }

            fn held_for(
                &self,
                blog: &str,
                subscriber: &str,
            ) -> impl std::future::Future<
                Output = Result<Vec<$crate::state::Claimed>, $crate::state::StateError>,
            > + Send {
                outbox::held_for(self, blog, subscriber)
            }

            fn merge_into(
                &self,
                keep: i64,
                merged: &[i64],
                payload: &str,
            ) -> impl std::future::Future<Output = Result<(), $crate::state::StateError>> + Send
            {
                outbox::merge_into(self, keep, merged, payload)
            }

            fn disabled_subscriber_rows(
                &self,
                blog: &str,
            ) -> impl std::future::Future<
                Output = Result<Vec<$crate::state::DisabledSubscriber>, $crate::state::StateError>,
            > + Send {
                queries::disabled_subscriber_rows(self, blog)
            }

            fn note_disabled_targets(
                &self,
                blog: &str,
                targets: &[(String, String)],
            ) -> impl std::future::Future<Output = Result<u64, $crate::state::StateError>> + Send
            {
                subscribers::note_disabled_targets(self, blog, targets)
            }

            fn enable_subscriber(
                &self,
                blog: &str,
                subscriber: &str,
            ) -> impl std::future::Future<Output = Result<bool, $crate::state::StateError>> + Send
            {
                subscribers::enable_subscriber(self, blog, subscriber)
            }

            fn enable_all_subscribers(
                &self,
                blog: &str,
            ) -> impl std::future::Future<Output = Result<u64, $crate::state::StateError>> + Send
            {
                subscribers::enable_all_subscribers(self, blog)
            }
        }
    };
}
