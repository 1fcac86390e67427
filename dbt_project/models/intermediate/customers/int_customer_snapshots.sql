-- Customers as they stood at three as-of dates: the run date, one horizon before it and two
-- horizons before it (var clv_horizon_months). One row per customer × as-of date with the
-- purchase history up to and including that date (recency, frequency, margin) and, where the
-- following horizon has fully passed by the run date and lies within the recorded history, what
-- the customer bought in it.
-- The population at a date: the accounts created by then and not deleted in the CRM, with the
-- segment of the version valid at the end of that day. An account whose creation the CRM does not
-- export (created_at null, e.g. examples/maven_crm) is one from the start, as its first version is
-- (dim_customer): else it would never be predicted.
{%- set horizon = clv_var('clv_horizon_months') %}
{%- set frequency_window = clv_var('clv_frequency_window_days') %}

with

customers as (

    -- a customer's value needs a customer: the unknown account's deals are not one
    select * from {{ ref('dim_customer') }} where customer_id <> {{ unknown_account_id() }}

),

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

orders as (

    select * from {{ ref('int_customer_orders_margined') }}

),

opportunities as (

    select * from {{ ref('int_opportunities_timed') }}

),

-- the CRM's recorded history starts with its first opportunity: an outcome window that began
-- before it would count orders that were never recorded as missing
history_start as (

    select min(created_date) as first_date from opportunities

),

as_of_dates as (

    select {{ clv_months_before(get_run_date(), 2 * horizon) }} as as_of_date
    union all
    select {{ clv_months_before(get_run_date(), horizon) }}
    union all
    select {{ get_run_date() }}

),

population as (

    select
        as_of_dates.as_of_date,
        customers.customer_id,
        customers.segment

    from as_of_dates

    inner join customers
        on
            (
                customers.created_at is null
                or customers.created_at
                < cast(as_of_dates.as_of_date + 1 as timestamp) at time zone '{{ var("reporting_timezone", "UTC") }}'
            )
            and {{ scd2_valid_at(
                'customers',
                "cast(as_of_dates.as_of_date + 1 as timestamp) at time zone '" ~ var('reporting_timezone', 'UTC') ~ "' - interval '1 microsecond'"
            ) }}

    -- deleted in the CRM: leaves CLV
    where customers.customer_id not in (
        select account_id from accounts where is_deleted and account_id is not null
    )

),

histories as (

    select
        population.as_of_date,
        population.customer_id,
        population.segment,
        count(orders.opportunity_id) filter (
            where orders.booking_date <= population.as_of_date
        ) as orders_to_date,
        count(orders.opportunity_id) filter (
            where orders.booking_date > population.as_of_date - {{ frequency_window }}
            and orders.booking_date <= population.as_of_date
        ) as orders_in_window,
        max(orders.booking_date) filter (
            where orders.booking_date <= population.as_of_date
        ) as last_order_date,
        coalesce(sum(orders.gross_margin) filter (
            where orders.booking_date <= population.as_of_date
        ), 0) as margin_to_date,
        -- the baseline "the next horizon repeats the last one" (clv_backtest)
        coalesce(sum(orders.gross_margin) filter (
            where orders.booking_date > {{ clv_months_before('population.as_of_date', horizon) }}
            and orders.booking_date <= population.as_of_date
        ), 0) as margin_last_horizon,
        count(orders.opportunity_id) filter (
            where orders.booking_date > population.as_of_date
        ) as orders_next,
        coalesce(sum(orders.gross_margin) filter (
            where orders.booking_date > population.as_of_date
        ), 0) as margin_next

    from population

    left join orders
        on
            population.customer_id = orders.account_id
            and orders.booking_date <= {{ clv_months_before('population.as_of_date', -horizon) }}

    group by population.as_of_date, population.customer_id, population.segment

),

outcomes as (

    select
        histories.*,
        coalesce(
            {{ clv_months_before('histories.as_of_date', -horizon) }} <= {{ get_run_date() }}
            and histories.as_of_date >= history_start.first_date,
            false
        ) as has_outcome

    from histories

    cross join history_start

),

final as (

    select
        as_of_date,
        customer_id,
        segment,
        cast(orders_to_date as integer) as orders_to_date,
        cast(orders_in_window as integer) as orders_in_window,
        last_order_date,
        cast(as_of_date - last_order_date as integer) as recency_days,
        case
            when last_order_date is null then 'never'
            when as_of_date - last_order_date <= 90 then '0-90'
            when as_of_date - last_order_date <= 180 then '91-180'
            when as_of_date - last_order_date <= 365 then '181-365'
            else '366+'
        end as recency_bucket,
        case
            when orders_in_window = 0 then '0'
            when orders_in_window = 1 then '1'
            when orders_in_window <= 3 then '2-3'
            else '4+'
        end as frequency_bucket,
        cast(margin_to_date as numeric(18, 2)) as margin_to_date,
        cast(margin_last_horizon as numeric(18, 2)) as margin_last_horizon,
        has_outcome,
        cast(case when has_outcome then orders_next end as integer) as orders_next,
        cast(case when has_outcome then margin_next end as numeric(18, 2)) as margin_next

    from outcomes

)

select * from final
