-- Customer lifetime value: one row per CRM account not deleted in the source (accounts without
-- orders included with zeros), with its current industry, segment and acquisition channel, what
-- it has been worth (revenue, margin after product cost, cash, after-sales cost), what it is
-- predicted to bring in the next var clv_horizon_months, and its tier. The "margin" columns are
-- the orders' value on the basis value_basis names (int_customer_orders_margined): gross margin
-- after product cost, or, for a deployment without a cost feed, the bookings themselves.
-- Tiers, first match wins:
--   at_risk    has ordered, and its spend declines (bookings in the last var clv_trend_months
--              months below var clv_declining_ratio × the previous ones), or its average CSAT is
--              below var clv_low_csat or its NPS below 0, or its latest service contract lapsed
--   core       among the accounts that make up the top var clv_core_margin_share of gross margin
--   potential  predicted margin in the top var clv_potential_top_share of customers and above
--              everything it has brought so far (high predicted value, low history)
--   regular    everyone else
{%- set core_share = clv_var('clv_core_margin_share') %}
{%- set potential_share = clv_var('clv_potential_top_share') %}

with

customers as (

    -- a customer's value needs a customer: the unknown account's deals are not one
    select * from {{ ref('dim_customer') }} where is_current and customer_id <> {{ unknown_account_id() }}

),

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

histories as (

    select * from {{ ref('int_customer_value_history') }}

),

predictions as (

    select * from {{ ref('int_customer_value_predicted') }} where as_of_date = {{ get_run_date() }}

),

joined as (

    select
        customers.customer_id,
        customers.customer_name,
        customers.industry,
        customers.region,
        customers.segment,
        customers.acquisition_channel,
        customers.owner_rep_id,
        histories.first_order_date,
        histories.last_order_date,
        coalesce(histories.order_count, 0) as order_count,
        coalesce(histories.bookings_amount, 0) as bookings_amount,
        coalesce(histories.product_cost, 0) as product_cost,
        coalesce(histories.gross_margin, 0) as gross_margin,
        coalesce(histories.invoiced_amount, 0) as invoiced_amount,
        coalesce(histories.cash_collected, 0) as cash_collected,
        coalesce(histories.ticket_count, 0) as ticket_count,
        coalesce(histories.service_cost, 0) as service_cost,
        coalesce(histories.bookings_recent, 0) as bookings_recent,
        coalesce(histories.bookings_prior, 0) as bookings_prior,
        histories.avg_csat,
        histories.nps,
        coalesce(histories.has_lapsed_renewal, false) as has_lapsed_renewal,
        predictions.p_active,
        coalesce(predictions.predicted_orders, 0) as predicted_orders,
        coalesce(predictions.predicted_margin, 0) as predicted_margin

    from customers

    left join histories
        on customers.customer_id = histories.account_id

    left join predictions
        on customers.customer_id = predictions.customer_id

    -- deleted in the CRM: leaves CLV
    where customers.customer_id not in (
        select account_id from accounts where is_deleted and account_id is not null
    )

),

ranked as (

    select
        *,
        -- margin of the accounts ranked above this one, as a share of all positive margin
        coalesce(
            sum(greatest(gross_margin, 0)) over (
                order by gross_margin desc, customer_id asc
                rows between unbounded preceding and 1 preceding
            ),
            0
        ) / nullif(sum(greatest(gross_margin, 0)) over (), 0) as margin_share_before,
        percent_rank() over (order by predicted_margin desc, customer_id asc) as predicted_rank

    from joined

),

flagged as (

    select
        *,
        gross_margin > 0 and margin_share_before < {{ core_share }} as is_top_margin,
        order_count > 0
        and bookings_prior > 0
        and bookings_recent < {{ clv_var('clv_declining_ratio') }} * bookings_prior as is_declining_spend,
        order_count > 0
        and (avg_csat < {{ clv_var('clv_low_csat') }} or nps < 0) as is_low_satisfaction

    from ranked

),

tiered as (

    select
        *,
        case
            when order_count > 0 and (is_declining_spend or is_low_satisfaction or has_lapsed_renewal)
                then 'at_risk'
            when is_top_margin then 'core'
            when
                predicted_margin > 0
                and predicted_rank < {{ potential_share }}
                and predicted_margin > gross_margin
                then 'potential'
            else 'regular'
        end as tier

    from flagged

),

final as (

    select
        cast(customer_id as text) as customer_id,
        cast(customer_name as text) as customer_name,
        cast(industry as text) as industry,
        cast(region as text) as region,
        cast(segment as text) as segment,
        cast(acquisition_channel as text) as acquisition_channel,
        cast(owner_rep_id as text) as owner_rep_id,
        cast(first_order_date as date) as first_order_date,
        cast(last_order_date as date) as last_order_date,
        cast(order_count as integer) as order_count,
        cast(bookings_amount as numeric(18, 2)) as bookings_amount,
        cast(bookings_amount / nullif(order_count, 0) as numeric(18, 2)) as average_deal_size,
        cast(product_cost as numeric(18, 2)) as product_cost,
        cast(gross_margin as numeric(18, 2)) as gross_margin,
        cast(invoiced_amount as numeric(18, 2)) as invoiced_amount,
        cast(cash_collected as numeric(18, 2)) as cash_collected,
        cast(ticket_count as integer) as ticket_count,
        cast(service_cost as numeric(18, 2)) as service_cost,
        cast(gross_margin - service_cost as numeric(18, 2)) as net_margin,
        cast(avg_csat as numeric(4, 2)) as avg_csat,
        cast(nps as numeric(6, 2)) as nps,
        cast({{ get_run_date() }} - first_order_date as integer) as tenure_days,
        cast(bookings_recent as numeric(18, 2)) as bookings_recent,
        cast(bookings_prior as numeric(18, 2)) as bookings_prior,
        cast(p_active as numeric(9, 6)) as retention_probability,
        cast(predicted_orders as numeric(12, 4)) as predicted_orders,
        cast(predicted_margin as numeric(18, 2)) as predicted_margin,
        cast(is_top_margin as boolean) as is_top_margin,
        cast(coalesce(is_declining_spend, false) as boolean) as is_declining_spend,
        cast(coalesce(is_low_satisfaction, false) as boolean) as is_low_satisfaction,
        cast(has_lapsed_renewal as boolean) as has_lapsed_renewal,
        cast(tier as text) as tier,
        cast('{{ clv_value_basis() }}' as text) as value_basis

    from tiered

)

select * from final
