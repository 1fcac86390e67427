-- Every payment lands in collections exactly once: total cash_received_in_month equals the
-- sum of fct_payments paid on or before the run date, and fct_payments holds every payment in
-- staging. Returns a row when either pair differs.
with

collections as (

    select coalesce(sum(cash_received_in_month), 0) as collections_cash_received
    from {{ ref('collections') }}

),

fact_payments as (

    select
        -- collections are in the reporting currency
        coalesce(sum(amount_reporting) filter (where paid_on <= {{ get_run_date() }}), 0)
            as fct_payments_to_run_date,
        coalesce(sum(amount), 0) as fct_payments_amount

    from {{ ref('fct_payments') }}

),

staged_payments as (

    select coalesce(sum(payment_amount), 0) as stg_payments_amount
    from {{ ref('stg_finance__payments') }}

),

final as (

    select
        collections.collections_cash_received,
        fact_payments.fct_payments_to_run_date,
        fact_payments.fct_payments_amount,
        staged_payments.stg_payments_amount

    from collections

    cross join fact_payments

    cross join staged_payments

    where
        collections.collections_cash_received <> fact_payments.fct_payments_to_run_date
        or fact_payments.fct_payments_amount <> staged_payments.stg_payments_amount

)

select * from final
