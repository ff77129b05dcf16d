//! A sink that holds every batch until the test lets it go: keeps a send "still
//! delivering" for as long as a test needs.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use herald::{Batch, Sink, SinkError};

pub struct HoldingSink {
    arrived: Mutex<Sender<u32>>,
    go: Mutex<Receiver<()>>,
}

impl Sink for HoldingSink {
    fn deliver(&self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let _ = self.arrived.lock().unwrap().send(batch.chunk);
        self.go
            .lock()
            .unwrap()
            .recv()
            .map_err(|e| SinkError(e.to_string()))
    }
}

/// The sink, a receiver of the chunk number of each batch as it arrives, and a sender of
/// one go-ahead per batch to let it return.
pub fn holding_sink() -> (Arc<HoldingSink>, Receiver<u32>, Sender<()>) {
    let (arrived_tx, arrived) = channel();
    let (go, go_rx) = channel();
    let sink = Arc::new(HoldingSink {
        arrived: Mutex::new(arrived_tx),
        go: Mutex::new(go_rx),
    });
    (sink, arrived, go)
}
