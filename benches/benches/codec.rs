//! Codec cost per message: decoding a pipelined burst of Redeem frames (what the server does
//! per request) and encoding RedeemOk answers (what it writes back).
//!
//! Run: `cargo bench -p benches --bench codec`

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use protocol::{FrameCodec, Redeem, RedeemOk, Request, Response};
use tokio_util::codec::Decoder;

fn redeem(seq: u64) -> Request {
    Request::Redeem(Redeem {
        seq,
        mykey_id: "MY123456".parse().unwrap(),
        account: "M141305".parse().unwrap(),
        points: 500,
    })
}

fn redeem_ok(seq: u64) -> Response {
    Response::RedeemOk(RedeemOk {
        seq,
        txn_no: "20261125103015000001".parse().unwrap(),
        txn_time_ms: 1_795_534_215_000,
        mykey_id: "MY123456".parse().unwrap(),
        account: "M141305".parse().unwrap(),
        account_name: "川崎市ポイント".into(),
        points: 500,
        balance_after: 9_500,
        terminal_id: "00052559".parse().unwrap(),
        location_name: "川崎市藤子・F・不二雄ミュージアム".into(),
        replayed: false,
    })
}

fn codec(c: &mut Criterion) {
    const BURST: u64 = 256;
    let mut wire = BytesMut::new();
    for seq in 0..BURST {
        redeem(seq).encode_frame(1, seq as u32, &mut wire);
    }
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(BURST));
    group.bench_function("decode_redeem_burst_256", |b| {
        b.iter_batched(
            || wire.clone(),
            |mut buf| {
                let mut codec = FrameCodec::default();
                while let Some(frame) = codec.decode(&mut buf).unwrap() {
                    std::hint::black_box(Request::decode(&frame).unwrap());
                }
            },
            BatchSize::SmallInput,
        )
    });
    let answers: Vec<Response> = (0..BURST).map(redeem_ok).collect();
    group.bench_function("encode_redeem_ok_burst_256", |b| {
        let mut out = BytesMut::with_capacity(64 * 1024);
        b.iter(|| {
            out.clear();
            for (i, a) in answers.iter().enumerate() {
                a.encode_frame(1, i as u32, &mut out);
            }
            std::hint::black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
