-- Customer value by industry × segment × acquisition channel (current customer attributes),
-- with the number of customers in each tier: the rollup of customer_lifetime_value for
-- channel-quality and segment reviews.
with

customers as (

    select * from {{ ref('customer_lifetime_value') }}

),

rolled_up as (

    select
        coalesce(industry, 'unknown') as industry,
        coalesce(segment, 'unknown') as segment,
        coalesce(acquisition_channel, 'unknown') as acquisition_channel,
        count(*) as customers,
        count(*) filter (where order_count > 0) as buying_customers,
        sum(order_count) as order_count,
        sum(bookings_amount) as bookings_amount,
        sum(gross_margin) as gross_margin,
        sum(cash_collected) as cash_collected,
        sum(service_cost) as service_cost,
        sum(net_margin) as net_margin,
        sum(predicted_margin) as predicted_margin,
        count(*) filter (where tier = 'core') as core_customers,
        count(*) filter (where tier = 'potential') as potential_customers,
        count(*) filter (where tier = 'regular') as regular_customers,
        count(*) filter (where tier = 'at_risk') as at_risk_customers

    from customers

    group by 1, 2, 3

),

final as (

    select
        cast(industry as text) as industry,
        cast(segment as text) as segment,
        cast(acquisition_channel as text) as acquisition_channel,
        cast(customers as integer) as customers,
        cast(buying_customers as integer) as buying_customers,
        cast(order_count as integer) as order_count,
        cast(bookings_amount as numeric(18, 2)) as bookings_amount,
        cast(gross_margin as numeric(18, 2)) as gross_margin,
        cast(cash_collected as numeric(18, 2)) as cash_collected,
        cast(service_cost as numeric(18, 2)) as service_cost,
        cast(net_margin as numeric(18, 2)) as net_margin,
        cast(predicted_margin as numeric(18, 2)) as predicted_margin,
        cast(net_margin / nullif(buying_customers, 0) as numeric(18, 2)) as net_margin_per_buying_customer,
        cast(core_customers as integer) as core_customers,
        cast(potential_customers as integer) as potential_customers,
        cast(regular_customers as integer) as regular_customers,
        cast(at_risk_customers as integer) as at_risk_customers,
        cast('{{ clv_value_basis() }}' as text) as value_basis

    from rolled_up

)

select * from final
