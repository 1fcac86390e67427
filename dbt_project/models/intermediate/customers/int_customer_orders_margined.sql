-- Orders with their value: one row per booking (won opportunity). The one definition of an
-- order's value, shared by customer_lifetime_value, its prediction and its backtest, on the
-- basis var clv_value_basis says (macro clv_value_basis; salesdw sets it from the deployment's
-- feeds):
--   margin    the deployment has the cost feed: the gross margin after product cost, revenue −
--             round(revenue × the standard cost rate of its product line valid at its close
--             date, 2); null where no rate covers the date (a warning test counts those)
--   bookings  no cost feed (a CRM alone): the order's revenue itself; no cost rate, no product cost
{%- set basis = clv_value_basis() %}

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
        {%- if basis == 'margin' %}
        cost_rate,
        cast(round(revenue * cost_rate, 2) as numeric(18, 2)) as product_cost,
        cast(revenue - round(revenue * cost_rate, 2) as numeric(18, 2)) as gross_margin,
        {%- else %}
        cast(null as numeric(9, 4)) as cost_rate,
        cast(null as numeric(18, 2)) as product_cost,
        cast(revenue as numeric(18, 2)) as gross_margin,
        {%- endif %}
        cast('{{ basis }}' as text) as value_basis

    from costed

)

select * from final
