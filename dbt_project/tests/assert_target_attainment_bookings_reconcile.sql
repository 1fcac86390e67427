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
        coalesce(sum({{ to_reporting_currency('amount', 'currency', 'closed_date') }}), 0)
            as won_amount
    from {{ ref('stg_crm__opportunities') }}
    where stage = 'closed_won' and is_deleted is not true

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
