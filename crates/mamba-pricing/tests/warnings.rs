//! An unpriced model logs one warning, however often it is estimated (clones share the memory
//! of what was already said).

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use mamba_pricing::CostEstimator;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Collects the message of every WARN event.
#[derive(Clone, Default)]
struct Warnings(Arc<Mutex<Vec<String>>>);

struct Message<'a>(&'a mut String);

impl Visit for Message<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        if field.name() == "message" {
            *self.0 = format!("{value:?}");
        }
    }
}

impl Subscriber for Warnings {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        if *event.metadata().level() == Level::WARN {
            let mut message = String::new();
            event.record(&mut Message(&mut message));
            self.0.lock().unwrap().push(message);
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn each_unpriced_model_warns_once() {
    let warnings = Warnings::default();
    tracing::subscriber::with_default(warnings.clone(), || {
        let estimator = CostEstimator::new();
        estimator.estimate(10, 10, "mystery-model");
        estimator.estimate(20, 20, "mystery-model");
        estimator.clone().estimate(30, 30, "mystery-model");
        estimator.estimate(10, 10, "gpt-4o"); // priced: no warning
        estimator.estimate(10, 10, "other-mystery");
    });
    let warnings = warnings.0.lock().unwrap();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].starts_with(
        "no price for model `mystery-model`: its tokens are reported as unpriced, not as $0"
    ));
    assert!(warnings[1].contains("`other-mystery`"));
}
