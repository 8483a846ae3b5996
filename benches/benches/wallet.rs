//! The pure arithmetic of one redemption in the `Wallet` actor: `WalletState::plan_debit`
//! (earliest-expiring lot first), the House posting, the balance for the receipt and
//! `WalletState::apply`. Each iteration starts from a fresh clone of the wallet (the clone is
//! outside the timing), so every redemption sees the same lots.
//!
//! Run: `cargo bench -p benches --bench wallet`

use std::hint::black_box;

use benches::wallet::{event, few_lots, municipal, redeem, twenty_lots, TODAY};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use protocol::AccountRef;

fn bench_redeem(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    wallet: actors::wallet_state::WalletState,
    account: AccountRef,
) {
    group.bench_function(name, |b| {
        b.iter_batched_ref(
            || wallet.clone(),
            |w| black_box(redeem(w, black_box(&account), black_box(500), TODAY)),
            BatchSize::SmallInput,
        )
    });
}

fn wallet(c: &mut Criterion) {
    let mut group = c.benchmark_group("wallet_redeem");
    group.throughput(Throughput::Elements(1));
    // 5 lots; 500 event points from the one event lot: one citizen posting.
    bench_redeem(&mut group, "few_lots/event_one_lot", few_lots(), event());
    // 5 lots; 500 municipal points: skips the expired lot, empties a 300-point lot and takes
    // 200 from the next: two citizen postings, one lot removed.
    bench_redeem(&mut group, "few_lots/municipal_two_lots", few_lots(), municipal());
    // 20 lots (4 expired); 500 municipal points: five 100-point lots emptied.
    bench_redeem(&mut group, "20_lots/municipal_five_lots", twenty_lots(), municipal());
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = wallet
}
criterion_main!(benches);
