//! The notification mails' words (F17 categories a–d, F56, F70, F79–F85, F90), in Japanese,
//! plain text. One function per event; the subject names the event, the body the facts and
//! where to look, and says the mail is sent because the citizen chose it.

use actors::catalog::Catalog;
use actors::clock::format_jst;
use actors::journal::EntryKind;
use actors::outbox::{JournalMailEvent, MailCategory};
use protocol::{AccountKind, MyKeyId};

// Numbers as the screens write them (12,345): the same in a mail as on the my page.
use crate::web::layout::points;

/// Subject and body of one mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailText {
    pub subject: String,
    pub body: String,
}

const SIGNATURE: &str = "\n――――――――――――――――――――\n\
    マイキープラットフォーム・自治体ポイント管理クラウド\n\
    このメールは、利用者マイページの「メール配信設定」でお選びいただいた通知です。\n\
    配信の停止は、利用者マイページの「利用者情報の変更」から行えます。\n\
    このメールには返信できません。\n";

/// The journal entry kinds that become mails, and their category.
pub fn journal_category(kind: EntryKind) -> Option<MailCategory> {
    match kind {
        // Grants (administrative grants: F70), partner credits and coupons (F56, F79–F85),
        // reserved moves and the reserve sweep (F45–F47 DEFAULT): points arrived in an account.
        EntryKind::Grant | EntryKind::AdminGrant | EntryKind::Credit | EntryKind::Transfer => {
            Some(MailCategory::PointsGranted)
        }
        // Municipal or event points past their last day (F58).
        EntryKind::Expire => Some(MailCategory::PointsExpired),
        _ => None,
    }
}

/// The kinds the feeder reads from the journal.
pub fn journal_kinds() -> Vec<EntryKind> {
    [EntryKind::Grant, EntryKind::AdminGrant, EntryKind::Credit, EntryKind::Transfer, EntryKind::Expire]
        .into_iter()
        .filter(|k| journal_category(*k).is_some())
        .collect()
}

/// The programme an administrative grant was made by, as its mail names it (F70: the manual's
/// 「ポイント付与した旨」 — the citizen learns which 付与事業 the points came from).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantedBy<'a> {
    /// 付与事業名.
    pub name: &'a str,
    /// 付与事業ID, the municipality's six digits.
    pub number: &'a str,
}

/// The mail of a journal entry, when its kind is mailed and the citizen opted in. `granted_by`
/// is the programme of an administrative grant (None for every other entry).
pub fn journal_mail(
    event: &JournalMailEvent,
    catalog: &Catalog,
    granted_by: Option<GrantedBy<'_>>,
) -> Option<(MailCategory, MailText)> {
    let category = journal_category(event.kind)?;
    if !category.chosen_in(event.notify) {
        return None;
    }
    let account = catalog.account_name(&event.account);
    let when = format_jst(event.created_at_ms);
    let text = match category {
        MailCategory::PointsGranted => {
            let what = match (event.kind, event.account.kind) {
                (EntryKind::Transfer, _) => "留保ポイントを移行しました",
                (_, AccountKind::Reserved) => "留保ポイントが付与されました",
                (_, AccountKind::Event) => "特定支援イベントのポイントが付与されました",
                (_, AccountKind::Municipal) => "自治体ポイントが付与されました",
            };
            let pts = points(event.points);
            let mykey = event.mykey_id.as_str();
            match granted_by.filter(|_| event.kind == EntryKind::AdminGrant) {
                Some(GrantedBy { name, number }) => MailText {
                    subject: format!("【自治体ポイント】ポイント付与事業「{name}」のポイントが付与されました"),
                    body: format!(
                        "マイキーID {mykey} の利用者様\n\n\
                         ポイント付与事業「{name}」により、{account}が付与されました。\n\n\
                         \u{3000}付与事業：{name}（付与事業ID {number}）\n　口座：{account}\n\
                         \u{3000}ポイント数：{pts} ポイント\n　日時：{when}\n\n\
                         残高と履歴は利用者マイページでご確認ください。\n{SIGNATURE}"
                    ),
                },
                None => MailText {
                    subject: format!("【自治体ポイント】{what}"),
                    body: format!(
                        "マイキーID {mykey} の利用者様\n\n{what}。\n\n\
                         \u{3000}口座：{account}\n　ポイント数：{pts} ポイント\n　日時：{when}\n\n\
                         残高と履歴は利用者マイページでご確認ください。\n{SIGNATURE}"
                    ),
                },
            }
        }
        MailCategory::PointsExpired => MailText {
            subject: "【自治体ポイント】ポイントが有効期限により失効しました".to_owned(),
            body: format!(
                "マイキーID {mykey} の利用者様\n\n有効期限を過ぎた自治体ポイントが失効しました。\n\n\
                 \u{3000}口座：{account}\n　失効ポイント数：{pts} ポイント\n　日時：{when}\n\n\
                 次に失効するポイントは利用者マイページでご確認ください。\n{SIGNATURE}",
                mykey = event.mykey_id.as_str(),
                pts = points(event.points),
            ),
        },
        MailCategory::PasswordChanged | MailCategory::MyKeyChanged => return None,
    };
    Some((category, text))
}

/// What happened to a citizen's identity or password (categories c and d).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityEvent<'a> {
    PasswordChanged,
    MyKeyRegistered,
    MyKeyChanged { old: &'a str },
    MyKeyRevoked,
}

impl IdentityEvent<'_> {
    pub fn category(self) -> MailCategory {
        match self {
            IdentityEvent::PasswordChanged => MailCategory::PasswordChanged,
            _ => MailCategory::MyKeyChanged,
        }
    }

    /// A short tag for the event key (`R<wallet>:<tag>:<ms>`).
    pub fn tag(self) -> &'static str {
        match self {
            IdentityEvent::PasswordChanged => "password",
            IdentityEvent::MyKeyRegistered => "registered",
            IdentityEvent::MyKeyChanged { .. } => "changed",
            IdentityEvent::MyKeyRevoked => "revoked",
        }
    }
}

/// The mail of a registry event, for the MyKey ID the citizen has after it.
pub fn identity_mail(event: IdentityEvent<'_>, mykey: &MyKeyId, now_ms: u64) -> MailText {
    let when = format_jst(now_ms);
    let mykey = mykey.as_str();
    let warning = "お心当たりのない場合は、お住まいの自治体の窓口へご連絡ください。";
    let (subject, lines) = match event {
        IdentityEvent::PasswordChanged => (
            "【マイキープラットフォーム】パスワードを変更しました",
            format!(
                "利用者マイページのパスワードを変更しました。\n\n　マイキーID：{mykey}\n　日時：{when}\n\n{warning}"
            ),
        ),
        IdentityEvent::MyKeyRegistered => (
            "【マイキープラットフォーム】マイキーIDを登録しました",
            format!("マイキーIDを作成・登録しました。\n\n　マイキーID：{mykey}\n　日時：{when}\n\n{warning}"),
        ),
        IdentityEvent::MyKeyChanged { old } => (
            "【マイキープラットフォーム】マイキーIDを変更しました",
            format!(
                "マイキーIDを変更しました。ポイント残高と履歴は新しいマイキーIDに引き継がれています。\n\n\
                 \u{3000}変更前のマイキーID：{old}\n　変更後のマイキーID：{mykey}\n　日時：{when}\n\n\
                 以後は新しいマイキーIDでログインしてください。{warning}"
            ),
        ),
        IdentityEvent::MyKeyRevoked => (
            "【マイキープラットフォーム】マイキーIDを失効させました",
            format!(
                "マイキーIDを失効させました。失効させたマイキーIDは有効に戻せません。\n\n\
                 \u{3000}マイキーID：{mykey}\n　日時：{when}\n\n{warning}"
            ),
        ),
    };
    MailText {
        subject: subject.to_owned(), body: format!("マイキーID {mykey} の利用者様\n\n{lines}\n{SIGNATURE}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actors::journal::WalletId;
    use actors::registry::NotifyChoices;

    fn event(kind: EntryKind, account: &str, notify: NotifyChoices) -> JournalMailEvent {
        JournalMailEvent {
            entry_id: 7,
            kind,
            created_at_ms: 1_764_000_000_000,
            wallet: WalletId(1),
            mykey_id: "MY123456".parse().unwrap(),
            account: account.parse().unwrap(),
            points: 10_500,
            idem_key: None,
            address: "taro@example.jp".into(),
            notify,
        }
    }

    #[test]
    fn a_credit_is_mailed_only_to_those_who_chose_category_a() {
        let catalog = Catalog::default();
        let yes = NotifyChoices { points_granted: true, ..Default::default() };
        let (category, text) = journal_mail(&event(EntryKind::Credit, "R", yes), &catalog, None).unwrap();
        assert_eq!(category, MailCategory::PointsGranted);
        assert!(text.subject.contains("留保ポイントが付与されました"), "{}", text.subject);
        assert!(text.body.contains("10,500 ポイント") && text.body.contains("MY123456"), "{}", text.body);
        let others =
            NotifyChoices { points_granted: false, points_expired: true, password_changed: true, mykey_changed: true };
        assert_eq!(journal_mail(&event(EntryKind::Credit, "R", others), &catalog, None), None);
        assert_eq!(
            journal_mail(&event(EntryKind::Redeem, "M141305", yes), &catalog, None),
            None,
            "spending is not mailed"
        );
    }

    #[test]
    fn a_grant_mail_names_its_programme() {
        let catalog = Catalog::default();
        let yes = NotifyChoices { points_granted: true, ..Default::default() };
        let mut grant = event(EntryKind::AdminGrant, "M141305", yes);
        grant.idem_key = Some("A3:1:r".into());
        let by = GrantedBy { name: "健康促進事業", number: "000001" };
        let (category, text) = journal_mail(&grant, &catalog, Some(by)).unwrap();
        assert_eq!(category, MailCategory::PointsGranted);
        assert!(text.subject.contains("ポイント付与事業「健康促進事業」"), "{}", text.subject);
        assert!(text.body.contains("付与事業：健康促進事業（付与事業ID 000001）"), "{}", text.body);
        assert!(text.body.contains("10,500 ポイント"), "{}", text.body);
        // A programme given for another kind of entry is not named.
        let credit = journal_mail(&event(EntryKind::Credit, "M141305", yes), &catalog, Some(by)).unwrap().1;
        assert!(!credit.subject.contains("健康促進事業"), "{}", credit.subject);
    }

    #[test]
    fn identity_mails_name_the_event() {
        let id: MyKeyId = "NEWID123".parse().unwrap();
        let t = identity_mail(IdentityEvent::MyKeyChanged { old: "MY123456" }, &id, 0);
        assert!(t.subject.contains("マイキーIDを変更しました"));
        assert!(t.body.contains("MY123456") && t.body.contains("NEWID123"));
        assert_eq!(IdentityEvent::PasswordChanged.category(), MailCategory::PasswordChanged);
        assert_eq!(IdentityEvent::MyKeyRevoked.category(), MailCategory::MyKeyChanged);
    }
}
