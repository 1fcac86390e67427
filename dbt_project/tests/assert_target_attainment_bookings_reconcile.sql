-- Every won amount must land in target_attainment exactly once: the mart's total bookings
-- equal the sum of closed_won opportunity amounts in staging (in the reporting currency, deals
-- deleted in the CRM left out). Returns a row when they differ.
with

attainment as (

    select coalesce(sum(bookings_amount), 0) as mart_bookings_amount
    from {{ ref('target_attainment') }}

),

won_opportunities as (

    select
        coalesce(sum({{ to_reporting_currency('opportunities.amount', 'fx') }}), 0)
            as won_amount
    from {{ ref('stg_crm__opportunities') }} as opportunities
    -- converted at the close date's rate, as fct_bookings
    {{ join_fx_rate('fx', 'opportunities.currency', 'opportunities.closed_date') }}
    where opportunities.is_won and opportunities.is_deleted is not true

),

final as (

    select
        attainment.mart_bookings_amount,
        won_opportunities.won_amount,
        attainment.mart_bookings_amount - won_opportunities.won_amount as difference

    from attainment

    cross join won_opportunities

    where attainment.mart_bookings_amount <> won_opportunities.won_amount

)

select * from final
