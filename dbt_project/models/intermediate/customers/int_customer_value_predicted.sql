-- Predicted margin over the next horizon (var clv_horizon_months) per customer, at the run date
-- (the CLV) and at one horizon before it (the backtest, where the actual margin is known):
--   predicted_orders = p_active × orders_per_active of the customer's cell
--   margin_per_order = (margin_to_date + k × cell margin_per_order) / (orders_to_date + k)
--     (the customer's own margin per order, credibility-weighted with k = var
--     clv_credibility_orders pseudo-orders at the cell's rate, as the Gamma-Gamma model does)
--   predicted_margin = predicted_orders × margin_per_order
-- with the rates learnt one horizon before the prediction date (int_customer_retention_rates).
{%- set horizon = clv_var('clv_horizon_months') %}
{%- set credibility = clv_var('clv_credibility_orders') %}

with

snapshots as (

    select * from {{ ref('int_customer_snapshots') }}

),

retention_rates as (

    select * from {{ ref('int_customer_retention_rates') }}

),

rated as (

    select
        snapshots.as_of_date,
        retention_rates.calibration_date,
        snapshots.customer_id,
        snapshots.segment,
        snapshots.recency_bucket,
        snapshots.frequency_bucket,
        snapshots.orders_to_date,
        snapshots.margin_to_date,
        snapshots.margin_last_horizon,
        retention_rates.p_active,
        retention_rates.orders_per_active,
        (snapshots.margin_to_date + {{ credibility }} * retention_rates.margin_per_order)
        / (snapshots.orders_to_date + {{ credibility }}) as margin_per_order,
        snapshots.has_outcome,
        snapshots.orders_next,
        snapshots.margin_next

    from snapshots

    inner join retention_rates
        on
            retention_rates.calibration_date = {{ clv_months_before('snapshots.as_of_date', horizon) }}
            and snapshots.segment is not distinct from retention_rates.segment
            and snapshots.recency_bucket = retention_rates.recency_bucket
            and snapshots.frequency_bucket = retention_rates.frequency_bucket

),

final as (

    select
        as_of_date,
        calibration_date,
        customer_id,
        segment,
        recency_bucket,
        frequency_bucket,
        orders_to_date,
        margin_to_date,
        margin_last_horizon,
        p_active,
        orders_per_active,
        cast(p_active * orders_per_active as numeric(12, 4)) as predicted_orders,
        cast(margin_per_order as numeric(18, 2)) as margin_per_order,
        cast(p_active * orders_per_active * margin_per_order as numeric(18, 2)) as predicted_margin,
        has_outcome,
        orders_next as actual_orders,
        margin_next as actual_margin

    from rated

)

select * from final
