//! A tiny fake switch for the client and runner tests: speaks protocol v1 on `127.0.0.1:0`,
//! checks demo credentials, keeps balances for the first demo citizens, and answers
//! redemptions in reversed batches so that only a client that matches by correlation id
//! gets the right answers. It can also answer every redemption a fixed time after it arrived
//! (a slow switch), and notes when each redemption arrived (to check a sending rate).

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use protocol::{
    AccountBalance, AccountRef, CardReadOk, ErrorCode, Frame, FrameCodec, LoginOk, MunicipalityCode, MyKeyId, Redeem,
    RedeemOk, Request, Response, TerminalId, TerminalKind, TxnNo, PROTOCOL_VERSION_1,
};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::codec::Framed;

/// A redemption of this many points makes the fake drop the connection on receipt.
pub const DROP_CONNECTION_POINTS: u64 = 13_013;

#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// Redemptions are held until this many are waiting, then answered newest first.
    pub hold_redeems: usize,
    /// ...or until the oldest held one has waited this long.
    pub flush_after: Duration,
    /// Per connection: after answering this many redemptions, drop the connection on the next.
    pub drop_after_redeems: Option<u64>,
    /// Answer every n-th redemption (server-wide) with BUSY instead of applying it.
    pub busy_every: Option<u64>,
    pub answer_heartbeats: bool,
    /// The first this many connections are refused like a switch at its connection limit:
    /// BUSY on correlation id 0, then hang up.
    pub refuse_connections: u64,
    /// Citizens `0..citizens` of the demo have balances.
    pub citizens: u64,
    /// When set, every redemption is answered this long after it arrived, independently of
    /// the others (instead of the held batches above).
    pub answer_delay: Option<Duration>,
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions {
            hold_redeems: 1,
            flush_after: Duration::from_millis(2),
            drop_after_redeems: None,
            busy_every: None,
            answer_heartbeats: true,
            refuse_connections: 0,
            citizens: 100,
            answer_delay: None,
        }
    }
}

pub struct FakeState {
    options: FakeOptions,
    balances: Mutex<HashMap<MyKeyId, u64>>,
    serials: HashMap<String, MyKeyId>,
    redeems_seen: AtomicU64,
    /// Batches of two or more answered in reversed order.
    pub reversed_batches: AtomicU64,
    pub applied_points: AtomicU64,
    txn_counter: AtomicU64,
    /// When each redemption arrived, in arrival order (all connections).
    pub redeem_arrivals: Mutex<Vec<Instant>>,
}

pub struct FakeServer {
    pub addr: SocketAddr,
    pub state: Arc<FakeState>,
}

impl FakeServer {
    pub async fn start(options: FakeOptions) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let mut balances = HashMap::new();
        let mut serials = HashMap::new();
        for i in 0..options.citizens {
            let c = actors::demo::citizen(i);
            balances.insert(c.mykey_id, c.kawasaki_points);
            serials.insert(c.cert_serial, c.mykey_id);
        }
        let state = Arc::new(FakeState {
            options,
            balances: Mutex::new(balances),
            serials,
            redeems_seen: AtomicU64::new(0),
            reversed_batches: AtomicU64::new(0),
            applied_points: AtomicU64::new(0),
            txn_counter: AtomicU64::new(0),
            redeem_arrivals: Mutex::new(Vec::new()),
        });
        let accept_state = state.clone();
        tokio::spawn(async move {
            let mut accepted = 0u64;
            while let Ok((stream, _)) = listener.accept().await {
                accepted += 1;
                if accepted <= accept_state.options.refuse_connections {
                    tokio::spawn(refuse(stream));
                } else {
                    tokio::spawn(serve(stream, accept_state.clone()));
                }
            }
        });
        FakeServer { addr, state }
    }

    pub fn balance(&self, mykey: MyKeyId) -> u64 {
        self.state.balances.lock().unwrap().get(&mykey).copied().unwrap_or(0)
    }

    pub fn redeem_arrivals(&self) -> Vec<Instant> {
        self.state.redeem_arrivals.lock().unwrap().clone()
    }
}

fn kawasaki() -> MunicipalityCode {
    "141305".parse().unwrap()
}

async fn refuse(mut stream: TcpStream) {
    let mut buf = bytes::BytesMut::new();
    Response::error(ErrorCode::Busy, "too many connections").encode_frame(PROTOCOL_VERSION_1, 0, &mut buf);
    let _ = stream.write_all(&buf).await;
    let _ = stream.shutdown().await;
}

async fn serve(stream: TcpStream, state: Arc<FakeState>) {
    let mut framed = Framed::new(stream, FrameCodec::default());
    let mut terminal: Option<TerminalId> = None;
    let mut held: Vec<(u32, Redeem)> = Vec::new();
    let mut held_since = Instant::now();
    let mut answered: u64 = 0;
    // Redemptions waiting out `answer_delay`, with the time each is due; due times only grow.
    let mut delayed: VecDeque<(Instant, u32, Redeem)> = VecDeque::new();
    loop {
        let held_due = (!held.is_empty()).then(|| held_since + state.options.flush_after);
        let delayed_due = delayed.front().map(|(due, _, _)| *due);
        let wake = match (held_due, delayed_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let next = match wake {
            None => framed.next().await,
            Some(wake) => match tokio::time::timeout_at(wake, framed.next()).await {
                Ok(next) => next,
                Err(_) => {
                    if held_due.is_some_and(|due| due <= Instant::now()) {
                        answered += flush(&mut framed, &state, terminal, &mut held).await;
                    }
                    answered += answer_due(&mut framed, &state, terminal, &mut delayed).await;
                    continue;
                }
            },
        };
        let Some(Ok(frame)) = next else { return };
        let request = match Request::decode(&frame) {
            Ok(r) => r,
            Err(e) => {
                reply(&mut framed, frame.corr_id, &Response::error(e.error_code(), e.to_string())).await;
                continue;
            }
        };
        let answer = match request {
            Request::Login(login) => match loadtest::demo::credentials(login.terminal_id) {
                Some((password, fingerprint)) if password == login.password && fingerprint == login.fingerprint => {
                    terminal = Some(login.terminal_id);
                    Response::LoginOk(LoginOk {
                        session_id: 1,
                        terminal_kind: TerminalKind::PointUse,
                        municipality_code: kawasaki(),
                        municipality_name: "川崎市".into(),
                        location_name: "テスト店".into(),
                        terminal_name: "テスト端末".into(),
                        business_date: 20261125,
                        server_time_ms: 1_795_566_615_000,
                        idle_timeout_s: 60,
                    })
                }
                _ => Response::error(ErrorCode::BadCredentials, "unknown terminal id or wrong password"),
            },
            Request::Heartbeat if state.options.answer_heartbeats => {
                Response::HeartbeatOk { server_time_ms: 1_795_566_615_000 }
            }
            Request::Heartbeat => continue,
            Request::CardRead { cert_serial } => match state.serials.get(&cert_serial) {
                Some(mykey) => Response::CardReadOk(CardReadOk {
                    mykey_id: *mykey,
                    accounts: vec![AccountBalance {
                        account: AccountRef::municipal(kawasaki()),
                        name: "川崎市ポイント".into(),
                        balance: state.balances.lock().unwrap().get(mykey).copied().unwrap_or(0),
                        usable_until: 0,
                    }],
                }),
                None => Response::error(ErrorCode::UnknownCard, "no MyKey ID for this card"),
            },
            Request::Redeem(redeem) => {
                if redeem.points == DROP_CONNECTION_POINTS
                    || state.options.drop_after_redeems.is_some_and(|n| answered >= n)
                {
                    return;
                }
                state.redeem_arrivals.lock().unwrap().push(Instant::now());
                if let Some(delay) = state.options.answer_delay {
                    delayed.push_back((Instant::now() + delay, frame.corr_id, redeem));
                    continue;
                }
                if held.is_empty() {
                    held_since = Instant::now();
                }
                held.push((frame.corr_id, redeem));
                if held.len() >= state.options.hold_redeems {
                    answered += flush(&mut framed, &state, terminal, &mut held).await;
                }
                continue;
            }
            Request::Void(_) => Response::error(ErrorCode::UnknownTransaction, "no such transaction"),
            // The fake switch speaks the v1 redemption path only.
            _ => Response::error(ErrorCode::UnknownMessageType, "not spoken by this fake switch"),
        };
        reply(&mut framed, frame.corr_id, &answer).await;
    }
}

/// Answers the held redemptions newest first; returns how many it answered.
async fn flush(
    framed: &mut Framed<TcpStream, FrameCodec>,
    state: &FakeState,
    terminal: Option<TerminalId>,
    held: &mut Vec<(u32, Redeem)>,
) -> u64 {
    if held.len() > 1 {
        state.reversed_batches.fetch_add(1, Ordering::Relaxed);
    }
    let count = held.len() as u64;
    for (corr_id, redeem) in held.drain(..).rev() {
        let answer = apply(state, terminal, &redeem);
        Response::encode_frame(&answer, PROTOCOL_VERSION_1, corr_id, framed.write_buffer_mut());
    }
    let _ = SinkExt::<Frame>::flush(framed).await;
    count
}

/// Answers the delayed redemptions whose time has come; returns how many it answered.
async fn answer_due(
    framed: &mut Framed<TcpStream, FrameCodec>,
    state: &FakeState,
    terminal: Option<TerminalId>,
    delayed: &mut VecDeque<(Instant, u32, Redeem)>,
) -> u64 {
    let now = Instant::now();
    let mut count = 0;
    while delayed.front().is_some_and(|(due, _, _)| *due <= now) {
        let Some((_, corr_id, redeem)) = delayed.pop_front() else { break };
        let answer = apply(state, terminal, &redeem);
        Response::encode_frame(&answer, PROTOCOL_VERSION_1, corr_id, framed.write_buffer_mut());
        count += 1;
    }
    if count > 0 {
        let _ = SinkExt::<Frame>::flush(framed).await;
    }
    count
}

fn apply(state: &FakeState, terminal: Option<TerminalId>, redeem: &Redeem) -> Response {
    let Some(terminal_id) = terminal else {
        return Response::error(ErrorCode::NotLoggedIn, "log in first");
    };
    let n = state.redeems_seen.fetch_add(1, Ordering::Relaxed) + 1;
    if state.options.busy_every.is_some_and(|every| n.is_multiple_of(every)) {
        return Response::error(ErrorCode::Busy, "at capacity, retry");
    }
    if redeem.points == 0 {
        return Response::error(ErrorCode::InvalidAmount, "points must be positive");
    }
    let mut balances = state.balances.lock().unwrap();
    let Some(balance) = balances.get_mut(&redeem.mykey_id) else {
        return Response::error(ErrorCode::UnknownMyKeyId, "no citizen has this MyKey ID");
    };
    if *balance < redeem.points {
        return Response::error(ErrorCode::InsufficientPoints, "not enough points");
    }
    *balance -= redeem.points;
    state.applied_points.fetch_add(redeem.points, Ordering::Relaxed);
    let txn = state.txn_counter.fetch_add(1, Ordering::Relaxed) % 1_000_000;
    Response::RedeemOk(RedeemOk {
        seq: redeem.seq,
        txn_no: TxnNo::compose(20261125093015, txn as u32).unwrap(),
        txn_time_ms: 1_795_566_615_000,
        mykey_id: redeem.mykey_id,
        account: redeem.account.clone(),
        account_name: "川崎市ポイント".into(),
        points: redeem.points,
        balance_after: *balance,
        terminal_id,
        location_name: "テスト店".into(),
        replayed: false,
    })
}

async fn reply(framed: &mut Framed<TcpStream, FrameCodec>, corr_id: u32, answer: &Response) {
    answer.encode_frame(PROTOCOL_VERSION_1, corr_id, framed.write_buffer_mut());
    let _ = SinkExt::<Frame>::flush(framed).await;
}
