-- Backtest of the predicted customer value: the prediction made one horizon (var
-- clv_horizon_months) before the run date, with rates learnt one horizon before that, against
-- the margin each customer actually brought in the horizon up to the run date (margin or bookings:
-- value_basis, int_customer_orders_margined). One row per
-- segment (as of the cutoff) and one for all customers (segment 'all'):
--   mae = mean |predicted − actual| per customer; mean_error = mean (predicted − actual);
--   wape = Σ|predicted − actual| / Σ actual (customer level);
--   total_error_pct = (Σ predicted − Σ actual) / Σ actual (bias of the total, signed).
-- Beside them, on the same customers and window, the same errors of two baselines:
--   repeat_*  "the next horizon repeats the last one": each customer's value in the horizon up
--             to the cutoff;
--   bgnbd_*   a BG/NBD + Gamma-Gamma fit on the purchases up to the cutoff (expected purchases ×
--             expected value of a purchase), 0 for a customer who had not bought by then; null
--             when no fit was written for the run date (ml.clv_btyd_fits says why).
{%- set horizon = clv_var('clv_horizon_months') %}

with

predictions as (

    select * from {{ ref('int_customer_value_predicted') }}
    where has_outcome and as_of_date = {{ clv_months_before(get_run_date(), horizon) }}

),

btyd as (

    select * from {{ ref('stg_ml__clv_btyd_predictions') }}
    where run_date = {{ get_run_date() }}

),

btyd_fitted as (

    select count(*) > 0 as is_fitted from btyd

),

errors as (

    select
        coalesce(predictions.segment, 'unknown') as segment,
        predictions.predicted_margin,
        coalesce(predictions.actual_margin, 0) as actual_margin,
        coalesce(predictions.actual_orders, 0) > 0 as is_active,
        predictions.predicted_margin - coalesce(predictions.actual_margin, 0) as error,
        predictions.margin_last_horizon as repeat_margin,
        predictions.margin_last_horizon - coalesce(predictions.actual_margin, 0) as repeat_error,
        case when btyd_fitted.is_fitted then coalesce(btyd.predicted_margin, 0) end as bgnbd_margin

    from predictions

    cross join btyd_fitted

    left join btyd
        on predictions.customer_id = btyd.customer_id

),

by_segment as (

    select
        coalesce(segment, 'all') as segment,
        grouping(segment) = 1 as is_total,
        count(*) as customers,
        count(*) filter (where is_active) as active_customers,
        sum(predicted_margin) as predicted_margin,
        sum(actual_margin) as actual_margin,
        avg(abs(error)) as mae,
        avg(error) as mean_error,
        sum(abs(error)) / nullif(sum(actual_margin), 0) as wape,
        (sum(predicted_margin) - sum(actual_margin)) / nullif(sum(actual_margin), 0) as total_error_pct,
        sum(repeat_margin) as repeat_margin,
        sum(abs(repeat_error)) / nullif(sum(actual_margin), 0) as repeat_wape,
        (sum(repeat_margin) - sum(actual_margin)) / nullif(sum(actual_margin), 0) as repeat_total_error_pct,
        sum(bgnbd_margin) as bgnbd_margin,
        sum(abs(bgnbd_margin - actual_margin)) / nullif(sum(actual_margin), 0) as bgnbd_wape,
        (sum(bgnbd_margin) - sum(actual_margin)) / nullif(sum(actual_margin), 0) as bgnbd_total_error_pct

    from errors

    group by grouping sets ((segment), ())

),

final as (

    select
        cast(segment as text) as segment,
        cast(is_total as boolean) as is_total,
        {{ clv_months_before(get_run_date(), horizon) }} as cutoff_date,
        {{ clv_months_before(get_run_date(), 2 * horizon) }} as calibration_date,
        cast({{ horizon }} as integer) as horizon_months,
        cast(customers as integer) as customers,
        cast(active_customers as integer) as active_customers,
        cast(coalesce(predicted_margin, 0) as numeric(18, 2)) as predicted_margin,
        cast(coalesce(actual_margin, 0) as numeric(18, 2)) as actual_margin,
        cast(mae as numeric(18, 2)) as mae,
        cast(mean_error as numeric(18, 2)) as mean_error,
        cast(wape as numeric(12, 4)) as wape,
        cast(total_error_pct as numeric(12, 4)) as total_error_pct,
        cast(coalesce(repeat_margin, 0) as numeric(18, 2)) as repeat_predicted_margin,
        cast(repeat_wape as numeric(12, 4)) as repeat_wape,
        cast(repeat_total_error_pct as numeric(12, 4)) as repeat_total_error_pct,
        cast('{{ clv_value_basis() }}' as text) as value_basis,
        -- after value_basis: a mart's new columns come last, so the views BI built on it survive
        cast(bgnbd_margin as numeric(18, 2)) as bgnbd_predicted_margin,
        cast(bgnbd_wape as numeric(12, 4)) as bgnbd_wape,
        cast(bgnbd_total_error_pct as numeric(12, 4)) as bgnbd_total_error_pct

    from by_segment

)

select * from final
