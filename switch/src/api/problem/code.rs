//! Every stable `code` of the HTTP API's problem documents, with its HTTP status and the
//! Japanese title a person reads. Partners' programs branch on these strings, so a code keeps
//! its string and status forever.
//!
//! To add a code: one line in the table below (variant, code string, status, title), then
//! `Problem::of(ProblemCode::NewVariant)` where it is refused. Nothing else builds a code, so
//! one code cannot have two statuses (`mykey-revoked` once answered 409 in one handler and 403
//! in another).

use actix_web::http::StatusCode;

macro_rules! problem_codes {
    ($($variant:ident => $code:literal, $status:ident, $title:literal;)+) => {
        /// A stable problem code of the HTTP API.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ProblemCode {
            $($variant,)+
        }

        impl ProblemCode {
            /// Every code, in table order (the OpenAPI document and the tests list them).
            pub const ALL: &'static [ProblemCode] = &[$(ProblemCode::$variant,)+];

            /// The string programs branch on (`urn:mykey-switch:problem:<code>`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ProblemCode::$variant => $code,)+
                }
            }

            pub fn status(self) -> StatusCode {
                match self {
                    $(ProblemCode::$variant => StatusCode::$status,)+
                }
            }

            /// Short Japanese summary for the person at the screen.
            pub fn title(self) -> &'static str {
                match self {
                    $(ProblemCode::$variant => $title,)+
                }
            }
        }
    };
}

problem_codes! {
    // Any caller.
    Validation => "validation", UNPROCESSABLE_ENTITY, "入力内容に誤りがあります";
    MalformedBody => "malformed-body", BAD_REQUEST, "リクエストの形式が不正です";
    BodyTooLarge => "body-too-large", PAYLOAD_TOO_LARGE, "リクエストが大きすぎます";
    BodyTimeout => "body-timeout", REQUEST_TIMEOUT, "リクエストの受信が時間内に終わりませんでした";
    Unauthorized => "unauthorized", UNAUTHORIZED, "ログインしてください";
    Forbidden => "forbidden", FORBIDDEN, "この操作は許可されていません";
    NotFound => "not-found", NOT_FOUND, "見つかりません";
    Busy => "busy", SERVICE_UNAVAILABLE, "混雑しています。再度お試しください";
    TemporaryFailure => "temporary-failure", SERVICE_UNAVAILABLE, "一時的な障害です。再度お試しください";
    Internal => "internal", INTERNAL_SERVER_ERROR, "システムエラーです";
    // The store lost track of a change (connection lost after its commit was sent): resending the
    // request with the same Idempotency-Key answers what happened.
    OutcomeUnknown => "outcome-unknown", SERVICE_UNAVAILABLE, "処理結果が不明です。同じIdempotency-Keyで再送してください";
    // A web screen's form post whose CSRF token or origin did not match (an old page, another site).
    CsrfRefused => "csrf-refused", FORBIDDEN, "画面の有効期限が切れました。もう一度操作してください";
    // Logins (staff and my page).
    BadCredentials => "bad-credentials", UNAUTHORIZED, "IDまたはパスワードが違います";
    LoginThrottled => "login-throttled", TOO_MANY_REQUESTS, "ログインの失敗が続いたため、しばらくお待ちください";
    // The card and the MyKey ID.
    CardProofFailed => "card-proof-failed", UNAUTHORIZED, "カードを確認できませんでした";
    CardProofUnavailable => "card-proof-unavailable", SERVICE_UNAVAILABLE, "カードによる確認は利用できません";
    CertificateExpired => "certificate-expired", UNAUTHORIZED, "電子証明書の有効期限が切れています";
    ChallengesThrottled => "challenges-throttled", TOO_MANY_REQUESTS, "カード確認の要求が多すぎます。しばらくお待ちください";
    UnknownCard => "unknown-card", UNAUTHORIZED, "カードに紐づくマイキーIDがありません";
    CardLinked => "card-linked", CONFLICT, "このカードには既にマイキーIDがあります";
    MyKeyTaken => "mykey-taken", CONFLICT, "このマイキーIDは既に使われています";
    OwnChoiceClosed => "own-choice-closed", CONFLICT, "重複エラーが3回となったため、自動生成をご利用ください";
    GenerationsUsed => "generations-used", CONFLICT, "自動生成は3回までです。3回目の候補が登録されます";
    // The citizen's state, not the caller's rights: a conflict for every caller.
    MyKeyRevoked => "mykey-revoked", CONFLICT, "マイキーIDは失効しています";
    // Set-up (municipal points, ID issuers, terminals).
    AlreadyIssued => "already-issued", CONFLICT, "この様式Iの端末は発行済みです";
    TerminalRetired => "terminal-retired", CONFLICT, "端末は削除されています";
    IssuerNameTaken => "issuer-name-taken", CONFLICT, "このID付与事業者名は別のIDで登録済みです";
    // Partners.
    BadApiKey => "bad-api-key", UNAUTHORIZED, "APIキーが不正です";
    PartnerNameTaken => "partner-name-taken", CONFLICT, "この名称の応援ポイント会社は登録済みです";
    IdempotencyKeyRequired => "idempotency-key-required", BAD_REQUEST, "Idempotency-Key ヘッダー (1〜64文字の英数字記号) が必要です";
    IdempotencyKeyReused => "idempotency-key-reused", UNPROCESSABLE_ENTITY, "このIdempotency-Keyは別のリクエストで使用済みです";
    IdempotencyKeyInProgress => "idempotency-key-in-progress", CONFLICT, "このIdempotency-Keyのリクエストを処理中です。しばらくして再送してください";
    UnknownCustomer => "unknown-customer", NOT_FOUND, "この顧客IDはマイキーIDと連携されていません";
    ServiceIdNotLinked => "service-id-not-linked", CONFLICT, "この会社の顧客IDがマイキーIDと連携されていません";
    ConsentRequired => "consent-required", FORBIDDEN, "利用者がマイページでこの会社からのポイント移行を承認していません";
    UnknownDestination => "unknown-destination", UNPROCESSABLE_ENTITY, "自治体ポイントまたは特定支援イベントが登録されていません";
    EventEnded => "event-ended", CONFLICT, "特定支援イベントの実施期間外です";
    InsufficientPoints => "insufficient-points", CONFLICT, "ポイント残高が不足しています";
    AlreadyCancelled => "already-cancelled", CONFLICT, "この取引は取消済みです";
    CancelAfterSettlement => "cancel-after-settlement", CONFLICT, "精算済みの取引は取り消せません";
    FileTooLarge => "file-too-large", PAYLOAD_TOO_LARGE, "ファイルが大きすぎます";
    UploadProcessing => "upload-processing", CONFLICT, "処理中です。完了後に取得してください";
    // Coupons.
    PartnerRefTaken => "partner-ref-taken", CONFLICT, "この処理番号は別の払い出しで使用済みです";
    CouponCodeInvalid => "coupon-code-invalid", UNPROCESSABLE_ENTITY, "クーポンコードが正しくありません";
    CouponUnknown => "coupon-unknown", NOT_FOUND, "このクーポンコードは登録されていません";
    CouponUsed => "coupon-used", CONFLICT, "このクーポンは使用済みです";
    CouponExpired => "coupon-expired", CONFLICT, "このクーポンは交換期限を過ぎています";
    CouponThrottled => "coupon-throttled", TOO_MANY_REQUESTS, "クーポンコードの誤りが続いたため、しばらくお待ちください";
    // Point tickets.
    TicketUnknown => "ticket-unknown", NOT_FOUND, "このポイント券は見つかりません";
    TicketCleared => "ticket-cleared", CONFLICT, "このポイント券は消込済です";
    TicketExpired => "ticket-expired", CONFLICT, "このポイント券は有効期限切れで失効しています";
    TicketReissued => "ticket-reissued", CONFLICT, "このポイント券は再発行により無効です";
    // Shopping streets' merge files (合算).
    MergeStreetUnknown => "merge-street-unknown", NOT_FOUND, "この商店街は登録されていません";
    MergeFileTooLarge => "merge-file-too-large", PAYLOAD_TOO_LARGE, "合算ポイントファイルが大きすぎます";
    MergeFileTruncated => "merge-file-truncated", UNPROCESSABLE_ENTITY, "合算ポイントファイルが途中で切れています";
    MergeFileUndecryptable => "merge-file-undecryptable", UNPROCESSABLE_ENTITY, "合算ポイントファイルを復号できません (共通鍵の誤り、またはファイルの破損)";
    MergeFileNotAuthentic => "merge-file-not-authentic", UNPROCESSABLE_ENTITY, "合算ポイントファイルの認証に失敗しました (共通鍵の誤り、改ざん、または欠落)";
    MergeFileEncoding => "merge-file-encoding", UNPROCESSABLE_ENTITY, "合算ポイントファイルがUTF-8ではありません";
    MergeFileEmpty => "merge-file-empty", UNPROCESSABLE_ENTITY, "合算ポイントファイルに行がありません";
    MergeFileTooManyLines => "merge-file-too-many-lines", UNPROCESSABLE_ENTITY, "合算ポイントファイルの行数が上限を超えています";
    MergeNoStreet => "merge-no-street", FORBIDDEN, "この端末は商店街ポイント合算に登録されていません";
    MergeNoStreetId => "merge-no-street-id", CONFLICT, "この利用者には商店街ポイントIDが登録されていません";
    MergeFileBadLines => "merge-file-bad-lines", UNPROCESSABLE_ENTITY, "合算ポイントファイルに不正な行があります。ファイル全体を受け付けませんでした";
    // Terminals logging in over HTTP (a shop's clerk, a mobile grant terminal).
    FingerprintMismatch => "fingerprint-mismatch", UNAUTHORIZED, "端末識別情報が登録された端末と一致しません";
    TerminalKindNotAllowed => "terminal-kind-not-allowed", FORBIDDEN, "この種別の端末ではこの操作はできません";
    DeviceNotVerified => "device-not-verified", FORBIDDEN, "登録された端末から端末識別情報を添えてログインしてください";
    // Settlement (精算).
    PeriodNotEnded => "period-not-ended", CONFLICT, "この期間はまだ締められません";
    // Administrative grants (行政ポイント付与).
    ProgrammeNameTaken => "programme-name-taken", CONFLICT, "このポイント付与事業名は登録済みです";
    NotOnRoster => "not-on-roster", CONFLICT, "付与事業対象者名簿に登録されていません";
    ProgrammeNotRunning => "programme-not-running", CONFLICT, "ポイント付与事業の期間外です";
    SessionProgrammeMismatch => "session-programme-mismatch", CONFLICT, "この付与セッションは別のポイント付与事業のものです";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_lower_case_kebab_and_every_one_has_a_title() {
        let mut seen = std::collections::HashSet::new();
        for code in ProblemCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(s.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'), "{s}");
            assert!(!s.starts_with('-') && !s.ends_with('-'), "{s}");
            assert!(!code.title().is_empty(), "{s}");
            assert!(code.status().is_client_error() || code.status().is_server_error(), "{s}");
        }
    }
}
