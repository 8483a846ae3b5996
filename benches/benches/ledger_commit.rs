//! Group commit on the embedded store: `Store::commit` of one batch of redemption entries (one
//! SQLite transaction in WAL mode with `synchronous=FULL`, so one fsync per batch), for batches
//! of 1, 64, 512 and 4,096 entries. Throughput is in entries per second: how far one fsync is
//! amortised as batches grow, which is what the `Ledger` gains under load.
//!
//! Each batch size gets a fresh store in a temporary directory seeded with 10,000 citizens and
//! two terminals (`$BENCH_DATA_DIR`, default the system temp directory; a tmpfs would make
//! fsync free). Building the batch is outside the timing; every entry is checked to have
//! committed.
//!
//! Run: `cargo bench -p benches --bench ledger_commit`

use std::time::{Duration, Instant};

use benches::ledger::{assert_all_committed, data_root, LedgerFixture};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput};

const CITIZENS: u64 = 10_000;
const BATCH_SIZES: [usize; 4] = [1, 64, 512, 4_096];

fn ledger_commit(c: &mut Criterion) {
    let root = data_root();
    let mut group = c.benchmark_group("ledger_commit");
    // A 4,096-entry commit takes tens of milliseconds: a few flat samples are enough.
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    for n in BATCH_SIZES {
        let mut fx = LedgerFixture::new(CITIZENS, &root);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("redeem_batch", n), &n, |b, &n| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let batch = fx.batch(n);
                    let started = Instant::now();
                    let outcomes = fx.commit(batch);
                    total += started.elapsed();
                    assert_all_committed(&outcomes, n);
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, ledger_commit);
criterion_main!(benches);
