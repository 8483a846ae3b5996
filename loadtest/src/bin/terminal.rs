//! `terminal`: a point-use terminal on the command line, for a person at a counter.
//!
//! With a subcommand it does one thing and exits (0 done, 1 refused by the switch, 2 outcome
//! unknown); without one it logs in once and reads commands from stdin, sending heartbeats in
//! the background so an idle counter keeps its session.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use clap::{Parser, Subcommand};
use loadtest::client::{ClientConfig, ClientError, SeqSource, TerminalClient};
use loadtest::{display, parse_duration};
use protocol::{
    AccountRef, Fingerprint, LoginOk, MyKeyId, Redeem, TerminalId, TicketClear, TicketIssue, TicketNo, TicketReissue,
    TxnNo, Void,
};
use tokio::io::AsyncBufReadExt;
use tokio::task::JoinHandle;

/// Shortest pause between background heartbeats.
const HEARTBEAT_INTERVAL_MIN: Duration = Duration::from_secs(1);

#[derive(Parser)]
#[command(
    name = "terminal",
    about = "ポイント利用端末 (point-use terminal) for the municipal point switch",
    after_help = "Without a command: an interactive prompt (type `help`).\n\
                  Exit codes: 0 done, 1 refused by the switch, 2 outcome unknown (retry with --seq)."
)]
struct Args {
    /// Address of the switch's terminal listener.
    #[arg(long, default_value = "127.0.0.1:7700")]
    addr: String,
    /// 端末ID: the 8-digit terminal id, e.g. 00052559.
    #[arg(long)]
    id: TerminalId,
    /// Terminal password (default: the demo fixture's for demo terminals).
    #[arg(long)]
    password: Option<String>,
    /// Device fingerprint as 64 hex digits (default: the demo fixture's).
    #[arg(long)]
    fingerprint_hex: Option<String>,
    /// How long to wait for each answer (e.g. 10s, 500ms).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,
    #[command(flatten)]
    tls: loadtest::tls::TlsArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// カード読取 (card read): show the MyKey ID and the points usable here.
    Card {
        /// 利用者証明用電子証明書の発行番号 (certificate serial), e.g. 030D45.
        serial: String,
    },
    /// ポイント利用 (redeem): MYKEY [ACCOUNT] POINTS; ACCOUNT is M<municipality code> or
    /// E<event code> and defaults to this terminal's municipality.
    #[command(override_usage = "redeem [--seq <SEQ>] <MYKEY> [ACCOUNT] <POINTS>")]
    Redeem {
        /// MYKEY [ACCOUNT] POINTS, e.g. `MY123456 1000` or `MY123456 E141305-E001 500`.
        #[arg(required = true, num_args = 2..=3, value_name = "ARG")]
        args: Vec<String>,
        /// Sequence number; give the one printed earlier to retry a request safely.
        #[arg(long)]
        seq: Option<u64>,
    },
    /// 利用取消 (void): cancel a same-day redemption by its transaction number.
    Void {
        txn_no: TxnNo,
        /// Sequence number; give the one printed earlier to retry a request safely.
        #[arg(long)]
        seq: Option<u64>,
    },
    /// ポイント券発行 (ticket issue, a (ウ) terminal): MYKEY [ACCOUNT] POINTS VALID_THROUGH;
    /// VALID_THROUGH is the ticket's last day, yyyymmdd or +DAYS (at most 30 days ahead).
    #[command(override_usage = "ticket-issue [--seq <SEQ>] <MYKEY> [ACCOUNT] <POINTS> <VALID_THROUGH>")]
    TicketIssue {
        /// MYKEY [ACCOUNT] POINTS VALID_THROUGH, e.g. `MY123456 3000 +14`.
        #[arg(required = true, num_args = 3..=4, value_name = "ARG")]
        args: Vec<String>,
        #[arg(long)]
        seq: Option<u64>,
    },
    /// ポイント券再発行 (ticket reissue, a (ウ) terminal): a new number, the old one dead.
    TicketReissue {
        mykey: MyKeyId,
        ticket_no: TicketNo,
        #[arg(long)]
        seq: Option<u64>,
    },
    /// ポイント券情報読取 (ticket lookup): the ticket's details and state.
    TicketInfo { ticket_no: TicketNo },
    /// ポイント券消込 (ticket clear): the 12-digit number, scanned from the QR code or typed.
    TicketClear {
        ticket_no: TicketNo,
        #[arg(long)]
        seq: Option<u64>,
    },
    /// 疎通確認 (heartbeat): check the connection and show the switch's clock.
    Heartbeat,
}

/// One prompt line, parsed with the same grammar as the command line.
#[derive(Parser)]
#[command(no_binary_name = true, disable_help_subcommand = true, name = "")]
struct PromptLine {
    #[command(subcommand)]
    command: Command,
}

const PROMPT_HELP: &str = "\
コマンド (commands):
  card <serial>                      カード読取 (card read)
  redeem <mykey> [account] <points>  ポイント利用 (redeem), e.g. redeem MY123456 1000
                                     account: M141305 / E141305-E001 (default: this terminal's municipality)
  void <txn_no>                      利用取消 (void)
  ticket-issue <mykey> [account] <points> <valid_through>
                                     ポイント券発行 (a (ウ) terminal), valid_through: yyyymmdd or +days
  ticket-reissue <mykey> <ticket_no> ポイント券再発行 (reissue)
  ticket-info <ticket_no>            ポイント券情報読取 (lookup)
  ticket-clear <ticket_no>           ポイント券消込 (clear)
  heartbeat                          疎通確認 (heartbeat)
  help                               この説明 (this help)
  quit                               終了 (quit)
  --seq <n> after redeem/void/ticket-* retries an earlier request with its sequence number.";

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("エラー (error): {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let credentials = loadtest::demo::credentials(args.id);
    let password = match (&args.password, &credentials) {
        (Some(p), _) => p.clone(),
        (None, Some((p, _))) => p.clone(),
        (None, None) => bail!("--password is required: terminal {} is not in the demo fixture", args.id),
    };
    let fingerprint = match &args.fingerprint_hex {
        Some(hex) => parse_fingerprint(hex)?,
        None => actors::demo::fingerprint(args.id),
    };
    let tls = args.tls.client(&args.addr)?;
    let config = ClientConfig { request_timeout: args.timeout, tls, ..ClientConfig::default() };
    let mut session = Session {
        addr: args.addr,
        id: args.id,
        password,
        fingerprint,
        config,
        seqs: SeqSource::new(),
        connection: None,
    };
    match args.command {
        Some(command) => {
            session.connect().await?;
            Ok(session.execute(command).await)
        }
        None => interactive(&mut session).await,
    }
}

async fn interactive(session: &mut Session) -> anyhow::Result<ExitCode> {
    let login = session.connect().await?;
    println!("ログインしました (logged in): 端末ID {}", session.id);
    print!("{}", display::login(&login));
    println!("`help` でコマンド一覧 (type `help` for commands)");
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        print!("{}> ", session.id);
        std::io::stdout().flush().context("writing to stdout")?;
        let Some(line) = lines.next_line().await.context("reading stdin")? else {
            println!();
            break;
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.first().copied() {
            None => continue,
            Some("quit" | "exit" | "q") => break,
            Some("help" | "?") => {
                println!("{PROMPT_HELP}");
                continue;
            }
            Some(_) => {}
        }
        let command = match PromptLine::try_parse_from(&words) {
            Ok(parsed) => parsed.command,
            Err(e) if e.kind() == clap::error::ErrorKind::InvalidSubcommand => {
                println!("不明なコマンド (unknown command): {} — `help` でコマンド一覧 (type `help`)", words[0]);
                continue;
            }
            Err(e) => {
                print!("{}", e.render());
                continue;
            }
        };
        if session.is_closed() {
            println!("再接続します (reconnecting)…");
            if let Err(e) = session.connect().await {
                println!("{e:#}");
                continue;
            }
        }
        session.execute(command).await;
    }
    Ok(ExitCode::SUCCESS)
}

struct Connection {
    client: Arc<TerminalClient>,
    login: LoginOk,
    heartbeat: JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

struct Session {
    addr: String,
    id: TerminalId,
    password: String,
    fingerprint: Fingerprint,
    config: ClientConfig,
    seqs: SeqSource,
    connection: Option<Connection>,
}

impl Session {
    /// Connects and logs in, replacing any earlier connection.
    async fn connect(&mut self) -> anyhow::Result<LoginOk> {
        self.connection = None;
        let client = TerminalClient::connect_with(self.addr.as_str(), self.config.clone())
            .await
            .map_err(|e| anyhow!("接続できません (cannot connect) to {}: {e}", self.addr))?;
        let login = client
            .login(self.id, &self.password, self.fingerprint)
            .await
            .map_err(|e| anyhow!("ログインできません (login failed): {}", display::error(&e)))?;
        let client = Arc::new(client);
        let heartbeat = tokio::spawn(keep_alive(client.clone(), login.idle_timeout_s));
        self.connection = Some(Connection { client, login: login.clone(), heartbeat });
        Ok(login)
    }

    fn is_closed(&self) -> bool {
        self.connection.as_ref().is_none_or(|c| c.client.is_closed())
    }

    /// Runs one command and prints its result; returns the exit code it deserves.
    async fn execute(&self, command: Command) -> ExitCode {
        let Some(connection) = &self.connection else {
            println!("{}", display::error(&ClientError::Closed));
            return ExitCode::from(2);
        };
        let client = &connection.client;
        let result = match command {
            Command::Card { serial } => client.card_read(&serial).await.map(|ok| display::card(&ok)),
            Command::Heartbeat => client
                .heartbeat()
                .await
                .map(|ms| format!("応答あり (alive): サーバ時刻 (server time, JST) {}\n", display::jst(ms))),
            Command::Redeem { args, seq } => {
                let request = match self.redeem_request(&connection.login, &args, seq) {
                    Ok(r) => r,
                    Err(e) => {
                        println!("入力エラー (input error): {e:#}");
                        return ExitCode::from(1);
                    }
                };
                println!("シーケンス番号 (seq): {}", request.seq);
                client.redeem(request).await.map(|ok| display::redeem_receipt(&ok))
            }
            Command::Void { txn_no, seq } => {
                let seq = seq.unwrap_or_else(|| self.seqs.next());
                println!("シーケンス番号 (seq): {seq}");
                client.void(Void { seq, txn_no }).await.map(|ok| display::void_receipt(&ok))
            }
            Command::TicketIssue { args, seq } => {
                let request = match self.ticket_request(&connection.login, &args, seq) {
                    Ok(r) => r,
                    Err(e) => {
                        println!("入力エラー (input error): {e:#}");
                        return ExitCode::from(1);
                    }
                };
                println!("シーケンス番号 (seq): {}", request.seq);
                client.ticket_issue(request).await.map(|ok| display::ticket(&ok, None))
            }
            Command::TicketReissue { mykey, ticket_no, seq } => {
                let seq = seq.unwrap_or_else(|| self.seqs.next());
                println!("シーケンス番号 (seq): {seq}");
                let request = TicketReissue { seq, mykey_id: mykey, ticket_no };
                client.ticket_reissue(request).await.map(|ok| display::ticket(&ok.ticket, Some(ok.replaced_ticket_no)))
            }
            Command::TicketInfo { ticket_no } => {
                client.ticket_lookup(ticket_no).await.map(|ok| display::ticket_info(&ok))
            }
            Command::TicketClear { ticket_no, seq } => {
                let seq = seq.unwrap_or_else(|| self.seqs.next());
                println!("シーケンス番号 (seq): {seq}");
                client.ticket_clear(TicketClear { seq, ticket_no }).await.map(|ok| display::clearing_receipt(&ok))
            }
        };
        match result {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                println!("{}", display::error(&e));
                if e.outcome_unknown() {
                    ExitCode::from(2)
                } else {
                    ExitCode::from(1)
                }
            }
        }
    }

    fn redeem_request(&self, login: &LoginOk, args: &[String], seq: Option<u64>) -> anyhow::Result<Redeem> {
        let (mykey, account, points) = match args {
            [mykey, points] => (mykey, None, points),
            [mykey, account, points] => (mykey, Some(account), points),
            _ => bail!("usage: redeem <mykey> [account] <points>"),
        };
        let mykey_id: MyKeyId =
            mykey.to_ascii_uppercase().parse().with_context(|| format!("マイキーID (MyKey ID) {mykey:?}"))?;
        let account = match account {
            Some(text) => text.parse::<AccountRef>().with_context(|| {
                format!("口座 (account) {text:?}: use M<municipality code> or E<event code>, e.g. M141305")
            })?,
            None => AccountRef::municipal(login.municipality_code),
        };
        let points = parse_points(points)?;
        Ok(Redeem { seq: seq.unwrap_or_else(|| self.seqs.next()), mykey_id, account, points })
    }
}

impl Session {
    fn ticket_request(&self, login: &LoginOk, args: &[String], seq: Option<u64>) -> anyhow::Result<TicketIssue> {
        let (redeem_args, until) = args.split_at(args.len().saturating_sub(1));
        let redeem = self.redeem_request(login, redeem_args, seq)?;
        let until = until.first().map(String::as_str).unwrap_or_default();
        let expires_on = match until.strip_prefix('+') {
            Some(days) => {
                let days: i64 = days.parse().with_context(|| format!("有効期限 (valid through) {until:?}"))?;
                actors::clock::add_days(login.business_date, days)
            }
            None => until.parse().with_context(|| format!("有効期限 (valid through) {until:?}: yyyymmdd or +days"))?,
        };
        Ok(TicketIssue {
            seq: redeem.seq,
            mykey_id: redeem.mykey_id,
            account: redeem.account,
            points: redeem.points,
            expires_on,
        })
    }
}

/// Sends heartbeats at a third of the switch's idle timeout until the connection ends.
async fn keep_alive(client: Arc<TerminalClient>, idle_timeout_s: u16) {
    let interval = (Duration::from_secs(u64::from(idle_timeout_s)) / 3).max(HEARTBEAT_INTERVAL_MIN);
    loop {
        tokio::time::sleep(interval).await;
        if let Err(e) = client.heartbeat().await {
            if e.outcome_unknown() {
                eprintln!("\n接続が切れました (connection lost): {e}. 次のコマンドで再接続します (will reconnect)");
                return;
            }
        }
    }
}

/// Points as typed by people: `1000`, `1,000` or `1_000`.
fn parse_points(text: &str) -> anyhow::Result<u64> {
    let digits: String = text.chars().filter(|c| *c != ',' && *c != '_').collect();
    match digits.parse::<u64>() {
        Ok(0) | Err(_) => bail!("ポイント数 (points) {text:?}: a positive whole number"),
        Ok(n) => Ok(n),
    }
}

fn parse_fingerprint(hex: &str) -> anyhow::Result<Fingerprint> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.is_ascii() {
        bail!("--fingerprint-hex must be 64 hex digits (SHA-256), got {} characters", hex.len());
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
            .with_context(|| format!("--fingerprint-hex: not hex at position {}", 2 * i))?;
    }
    Ok(out)
}
