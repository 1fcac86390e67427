-- Cash attainment reconciles with fct_payments: target_attainment's cash_collected_amount,
-- summed over the teams, regions and product lines of a rep and month, equals the payments
-- (amount_reporting) credited to that rep (the invoiced opportunity's owner, 'unknown' when
-- none) and received in that month. Returns one row per rep x month that differs.
with

attainment as (

    select
        rep_id,
        month,
        sum(cash_collected_amount) as mart_cash_amount

    from {{ ref('target_attainment') }}

    group by
        rep_id,
        month

),

payments as (

    select
        coalesce(owner_rep_id, 'unknown') as rep_id,
        cast(date_trunc('month', paid_on) as date) as month,
        sum(amount_reporting) as fct_payments_amount

    from {{ ref('fct_payments') }}

    group by
        coalesce(owner_rep_id, 'unknown'),
        cast(date_trunc('month', paid_on) as date)

),

final as (

    select
        coalesce(attainment.rep_id, payments.rep_id) as rep_id,
        coalesce(attainment.month, payments.month) as month,
        attainment.mart_cash_amount,
        payments.fct_payments_amount

    from attainment

    full outer join payments
        on
            attainment.rep_id = payments.rep_id
            and attainment.month = payments.month

    where coalesce(attainment.mart_cash_amount, 0) <> coalesce(payments.fct_payments_amount, 0)

)

select * from final
