-- Orders with their product cost: one row per booking (won opportunity) with the standard cost
-- rate of its product line valid at its close date and the gross margin after product cost.
-- The one definition of an order's margin, shared by customer_lifetime_value and its backtest.
with

bookings as (

    select * from {{ ref('fct_bookings') }}

),

product_costs as (

    select * from {{ ref('stg_finance__product_costs') }}

),

costed as (

    select
        bookings.opportunity_id,
        bookings.account_id,
        bookings.product_line,
        bookings.booking_date,
        bookings.booking_amount_reporting as revenue,
        product_costs.cost_rate

    from bookings

    left join product_costs
        on
            bookings.product_line = product_costs.product_line
            and bookings.booking_date >= product_costs.valid_from
            and (bookings.booking_date < product_costs.valid_to or product_costs.valid_to is null)

),

final as (

    select
        opportunity_id,
        account_id,
        product_line,
        booking_date,
        revenue,
        cost_rate,
        cast(round(revenue * cost_rate, 2) as numeric(18, 2)) as product_cost,
        cast(revenue - round(revenue * cost_rate, 2) as numeric(18, 2)) as gross_margin

    from costed

)

select * from final
