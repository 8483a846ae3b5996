//! The journal engine's files after a crash or damage, driven through the real binary: a torn
//! last batch (a crash during its write) is removed at start and the switch serves; a record
//! damaged in the middle of the journal is refused — the switch does not start and `switch
//! check` names the place — never skipped; a checkpoint cut short by a crash leaves the one
//! before it, a damaged checkpoint is reported by `switch check` and passed over at start.

mod common;

use std::os::unix::fs::FileExt;
use std::path::Path;

use common::*;
use protocol::{Redeem, Request, Response};
use switch::store::journal::{record, segments};

/// (segment, offset, length) of every frame, in order.
fn frames(journal: &Path) -> Vec<(u32, u64, u64)> {
    let mut out = Vec::new();
    segments::scan(journal, |f| {
        out.push((f.segment, u64::from(f.offset), (record::FRAME_HEADER_BYTES + f.payload.len()) as u64));
        Ok(())
    })
    .unwrap();
    out
}

fn redeem(conn: &mut Conn, seq: u64, citizen: u64, points: u64) -> Response {
    conn.call(&Request::Redeem(Redeem {
        seq,
        mykey_id: actors::demo::citizen(citizen).mykey_id,
        account: "M141305".parse().unwrap(),
        points,
    }))
}

fn write_at(journal: &Path, segment: u32, offset: u64, bytes: &[u8]) {
    let f = std::fs::OpenOptions::new().write(true).open(segments::segment_path(journal, segment)).unwrap();
    f.write_all_at(bytes, offset).unwrap();
    f.sync_all().unwrap();
}

#[test]
fn a_torn_last_batch_is_removed_at_start_and_the_switch_serves_on() {
    let mut server = Server::start_journal(20, &[MUSEUM], &[]);
    let journal = server.dir.join("journal");
    let mut conn = server.login(MUSEUM);
    for seq in 1..=5 {
        assert!(matches!(redeem(&mut conn, seq, seq, 10), Response::RedeemOk(_)));
    }
    drop(conn);
    server.kill9();
    let before = frames(&journal);
    // A crash during the next batch's write: its first half reached the disk, the rest did not.
    let (segment, offset, len) = *before.last().unwrap();
    let bytes = std::fs::read(segments::segment_path(&journal, segment)).unwrap();
    let last = &bytes[offset as usize..(offset + len) as usize];
    write_at(&journal, segment, offset + len, &last[..last.len() / 2]);

    server.restart();
    assert_eq!(frames(&journal), before, "the torn batch is gone, every intact batch kept");
    let mut conn = server.login(MUSEUM);
    // The torn batch was never acknowledged; the journal takes new batches after the repair.
    assert!(matches!(redeem(&mut conn, 6, 6, 10), Response::RedeemOk(_)));
    // A retry of an acknowledged redemption is answered from the journal.
    match redeem(&mut conn, 5, 5, 10) {
        Response::RedeemOk(ok) => assert!(ok.replayed),
        other => panic!("{other:?}"),
    }
    drop(conn);
    server.kill9();
    assert_eq!(frames(&journal).len(), before.len() + 1);
    let (ok, out) = server.check();
    assert!(ok, "{out}");
}

#[test]
fn a_damaged_record_in_the_middle_is_refused_with_a_clear_error_never_skipped() {
    let mut server = Server::start_journal(20, &[MUSEUM], &[]);
    let journal = server.dir.join("journal");
    let mut conn = server.login(MUSEUM);
    for seq in 1..=5 {
        assert!(matches!(redeem(&mut conn, seq, seq, 10), Response::RedeemOk(_)));
    }
    drop(conn);
    server.kill9();
    let all = frames(&journal);
    assert!(all.len() >= 3, "{all:?}");
    // One bit of a record inside the second-to-last batch flips (a bad sector, a stray write).
    let (segment, offset, len) = all[all.len() - 2];
    let at = offset + len - 3;
    let bytes = std::fs::read(segments::segment_path(&journal, segment)).unwrap();
    write_at(&journal, segment, at, &[bytes[at as usize] ^ 0x04]);

    let (ok, out) = server.check();
    assert!(!ok, "check must fail: {out}");
    assert!(out.contains(&format!("journal segment {segment:08} at byte {offset}")), "{out}");
    assert!(out.contains("damage in the middle"), "{out}");

    let serve = std::process::Command::new(env!("CARGO_BIN_EXE_switch"))
        .args(["serve", "--data-dir"])
        .arg(&server.dir)
        .args(["--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .envs(journal_env())
        .output()
        .unwrap();
    assert!(!serve.status.success(), "the switch must not start on a damaged journal");
    let stderr = String::from_utf8_lossy(&serve.stderr);
    assert!(stderr.contains("damage in the middle") && stderr.contains(&format!("{segment:08}")), "{stderr}");
    // Nothing was cut away: the damaged batch and the intact one after it are still there.
    let bytes_after = std::fs::read(segments::segment_path(&journal, segment)).unwrap();
    assert_eq!(bytes_after.len(), bytes.len());
    assert_eq!(bytes_after[(offset + len) as usize..], bytes[(offset + len) as usize..]);
}

#[test]
fn switch_migrate_moves_a_sqlite_layout_into_the_journal_and_keeps_every_answer() {
    // A store in the SQLite layout, with redemptions and a void made by a switch serving it.
    let mut server = Server::start_seeded(20, &[MUSEUM], &[], |_| {});
    let mut conn = server.login(MUSEUM);
    let mut first = None;
    for seq in 1..=5 {
        match redeem(&mut conn, seq, seq, 10 * seq) {
            Response::RedeemOk(ok) => {
                first.get_or_insert(ok);
            }
            other => panic!("{other:?}"),
        }
    }
    let first = first.unwrap();
    let voided = conn.call(&Request::Void(protocol::Void { seq: 6, txn_no: first.txn_no }));
    assert!(matches!(voided, Response::VoidOk(_)), "{voided:?}");
    drop(conn);
    server.kill9();

    let migrated = switch_command(&["migrate", "--data-dir", server.dir.to_str().unwrap()], &journal_env());
    let out = String::from_utf8_lossy(&migrated.stdout);
    assert!(migrated.status.success(), "{out}{}", String::from_utf8_lossy(&migrated.stderr));
    assert!(out.contains("moved 26 entries from the SQLite layout"), "20 grants, 5 redemptions, 1 void: {out}");
    // The SQLite engine wrote every entry's settlement lines: the projection starts after them.
    assert_eq!(query_i64(&server.dir, "SELECT entry_id FROM settlement_projected"), 26);
    let lines = query_i64(&server.dir, "SELECT COUNT(*) FROM settlement_lines");
    // Again: nothing more to move.
    let again = switch_command(&["migrate", "--data-dir", server.dir.to_str().unwrap()], &journal_env());
    assert!(String::from_utf8_lossy(&again.stdout).contains("journal layout"));
    // The SQLite engine no longer serves the directory.
    let sqlite = switch_command(&["check", "--data-dir", server.dir.to_str().unwrap()], &sqlite_env());
    assert!(!sqlite.status.success());
    assert!(String::from_utf8_lossy(&sqlite.stderr).contains("journal layout"));

    let mut server = {
        let mut s = server;
        s.set_env(journal_env());
        s.restart();
        s
    };
    let (ok, out) = server.check();
    assert!(ok, "{out}");
    assert!(out.contains("journal entries: 26"), "{out}");
    assert_eq!(query_i64(&server.dir, "SELECT COUNT(*) FROM settlement_lines"), lines, "nothing projected twice");
    let mut conn = server.login(MUSEUM);
    // Idempotency and voids survive the move: a retry is answered from the journal, the
    // voided redemption cannot be voided again, a new redemption goes on from the balances.
    match redeem(&mut conn, 1, 1, 10) {
        Response::RedeemOk(ok) => assert!(ok.replayed && ok.txn_no == first.txn_no),
        other => panic!("{other:?}"),
    }
    let again = conn.call(&Request::Void(protocol::Void { seq: 7, txn_no: first.txn_no }));
    assert_eq!(code(&again), protocol::ErrorCode::AlreadyVoided);
    match redeem(&mut conn, 8, 2, 1) {
        Response::RedeemOk(ok) => {
            let opening = actors::demo::citizen(2).kawasaki_points;
            assert_eq!(ok.balance_after, opening - 20 - 1);
        }
        other => panic!("{other:?}"),
    }
    drop(conn);
    server.kill9();
    let (ok, out) = server.check();
    assert!(ok, "{out}");
}

/// Waits (at most 120 s: the checkpoint thread runs at the lowest priority) until the checkpoint covers at least `entries` entries.
fn wait_for_checkpoint(journal: &Path, entries: u64) -> Vec<u8> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        if let Ok(bytes) = std::fs::read(journal.join("checkpoint.ckp")) {
            if bytes.len() >= 64 && u64::from_le_bytes(bytes[56..64].try_into().unwrap()) >= entries {
                return bytes;
            }
        }
        assert!(std::time::Instant::now() < deadline, "no checkpoint of {entries} entries was written");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_start_reads_the_checkpoint_survives_one_cut_short_and_passes_over_a_damaged_one() {
    let mut server = Server::start_journal(20, &[MUSEUM], &[("SWITCH_STORE__JOURNAL_CHECKPOINT_ENTRIES", "5")]);
    let journal = server.dir.join("journal");
    let mut conn = server.login(MUSEUM);
    for seq in 1..=10 {
        assert!(matches!(redeem(&mut conn, seq, seq, 10), Response::RedeemOk(_)));
    }
    // 20 opening grants and 10 redemptions; a checkpoint is written each time 5 more entries
    // are durable, so the last one covers at least 25.
    let checkpoint = wait_for_checkpoint(&journal, 25);
    drop(conn);
    server.kill9();

    // A crash while the next checkpoint was being written: half of it in its temporary file.
    let tmp = journal.join("checkpoint.ckp.999999-0.tmp");
    std::fs::write(&tmp, &checkpoint[..checkpoint.len() / 2]).unwrap();
    server.restart();
    let mut conn = server.login(MUSEUM);
    // The keys came back from the checkpoint: retries are answered from the journal.
    for seq in [1, 10] {
        match redeem(&mut conn, seq, seq, 10) {
            Response::RedeemOk(ok) => assert!(ok.replayed, "seq {seq} is answered again"),
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(redeem(&mut conn, 11, 11, 10), Response::RedeemOk(_)));
    drop(conn);
    server.kill9();
    assert!(!tmp.exists(), "the cut-short checkpoint is removed at start");
    let (ok, out) = server.check();
    assert!(ok, "{out}");

    // A damaged checkpoint: `switch check` says so; the switch replays the whole journal.
    let path = journal.join("checkpoint.ckp");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    let (ok, out) = server.check();
    assert!(!ok && out.contains("checkpoint"), "{out}");
    server.restart();
    let mut conn = server.login(MUSEUM);
    match redeem(&mut conn, 11, 11, 10) {
        Response::RedeemOk(ok) => assert!(ok.replayed),
        other => panic!("{other:?}"),
    }
    for seq in 12..=17 {
        assert!(matches!(redeem(&mut conn, seq, seq, 10), Response::RedeemOk(_)));
    }
    // A new checkpoint replaces the damaged one (which covered at most 30 of the 31 entries
    // there were at this start), and equals the journal.
    wait_for_checkpoint(&journal, 31);
    drop(conn);
    server.kill9();
    let (ok, out) = server.check();
    assert!(ok, "{out}");
}
