-- The purchase history of each customer clv_backtest scores at its cutoff (one horizon, var
-- clv_horizon_months, before the run date), summarised as the BG/NBD and Gamma-Gamma models read it
-- (Fader, Hardie & Lee 2005; Fader & Hardie 2013). A purchase is a day with orders, their values
-- summed (the models count transactions in continuous time; two orders of one day are one visit):
--   frequency      = purchases after the first (repeat purchases)
--   recency_days   = days from the first purchase to the last
--   age_days       = days from the first purchase to the cutoff (the models' T)
--   monetary_value = mean value of the repeat purchases; null without one
-- Only customers who had bought by the cutoff: the models know nothing of the others and predict
-- nothing for them. horizon_days = the days from the cutoff to the run date, the span predicted.
-- salesdw fits the models on it in Python, after dbt has built it (transform/clv_baseline.py), and
-- writes ml.clv_btyd_predictions, which clv_backtest then reads.
{%- set horizon = clv_var('clv_horizon_months') %}

with

snapshots as (

    select * from {{ ref('int_customer_snapshots') }}
    where has_outcome and as_of_date = {{ clv_months_before(get_run_date(), horizon) }}

),

orders as (

    select * from {{ ref('int_customer_orders_margined') }}

),

purchases as (

    select
        snapshots.as_of_date,
        snapshots.customer_id,
        orders.booking_date,
        sum(orders.gross_margin) as purchase_value,
        row_number() over (
            partition by snapshots.customer_id order by orders.booking_date
        ) as purchase_number

    from snapshots

    inner join orders
        on
            snapshots.customer_id = orders.account_id
            and snapshots.as_of_date >= orders.booking_date

    group by snapshots.as_of_date, snapshots.customer_id, orders.booking_date

),

summary as (

    select
        as_of_date,
        customer_id,
        count(*) - 1 as frequency,
        max(booking_date) - min(booking_date) as recency_days,
        as_of_date - min(booking_date) as age_days,
        avg(purchase_value) filter (where purchase_number > 1) as monetary_value

    from purchases

    group by as_of_date, customer_id

),

final as (

    select
        {{ get_run_date() }} as run_date,
        as_of_date,
        customer_id,
        cast(frequency as integer) as frequency,
        cast(recency_days as integer) as recency_days,
        cast(age_days as integer) as age_days,
        cast(monetary_value as numeric(18, 2)) as monetary_value,
        cast({{ get_run_date() }} - as_of_date as integer) as horizon_days

    from summary

)

select * from final
