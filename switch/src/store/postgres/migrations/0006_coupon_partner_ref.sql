-- Schema version 6: a coupon keeps its partner's processing number (応援ポイント会社処理番号,
-- F79), so the partner's later download shows it beside each coupon.
ALTER TABLE coupons ADD COLUMN partner_ref TEXT;
