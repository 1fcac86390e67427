-- A view: the night's clv_baseline task replaces the table whole just before clv_backtest reads it.
{{ config(materialized='view') }}

with

source as (

    select * from {{ source('ml', 'clv_btyd_predictions') }}

),

final as (

    select
        run_date,
        as_of_date,
        customer_id,
        expected_purchases,
        probability_alive,
        expected_purchase_value,
        predicted_margin

    from source

)

select * from final
