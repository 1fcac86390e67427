-- Retention rates learnt from history: for each calibration date (an as-of date whose following
-- horizon has passed) and each segment × recency bucket × frequency bucket, the share of the
-- customers in that cell who ordered in the following horizon (p_active), the orders per active
-- customer and the margin per order they brought. Small cells are shrunk (empirical Bayes, var
-- clv_shrinkage_customers pseudo-customers) towards the same recency × frequency cell over all
-- segments, itself shrunk the same way towards the whole population. Every segment × bucket
-- combination seen at any as-of date gets a row, so a prediction always finds its rate.
{%- set shrinkage = clv_var('clv_shrinkage_customers') %}

with

snapshots as (

    select * from {{ ref('int_customer_snapshots') }}

),

calibration as (

    select * from snapshots where has_outcome

),

grid as (

    select
        calibration_dates.as_of_date,
        segments.segment,
        buckets.recency_bucket,
        buckets.frequency_bucket

    from (select distinct as_of_date from calibration) as calibration_dates

    cross join (select distinct segment from snapshots) as segments

    cross join (select distinct recency_bucket, frequency_bucket from snapshots) as buckets

),

-- counts per cell, per recency × frequency cell over all segments and over everyone
counts as (

    select
        as_of_date,
        segment,
        recency_bucket,
        frequency_bucket,
        grouping(segment, recency_bucket, frequency_bucket) as grouping_level,
        count(*) as customers,
        count(*) filter (where orders_next > 0) as active_customers,
        sum(orders_next) as orders_next,
        sum(margin_next) as margin_next

    from calibration

    group by grouping sets (
        (as_of_date, segment, recency_bucket, frequency_bucket),
        (as_of_date, recency_bucket, frequency_bucket),
        (as_of_date)
    )

),

cells as (

    select * from counts where grouping_level = 0

),

buckets_all_segments as (

    select * from counts where grouping_level = 4

),

population as (

    select
        as_of_date,
        active_customers * 1.0 / customers as p_active,
        orders_next * 1.0 / nullif(active_customers, 0) as orders_per_active,
        margin_next / nullif(orders_next, 0) as margin_per_order

    from counts

    where grouping_level = 7

),

priors as (

    select
        grid.as_of_date,
        grid.segment,
        grid.recency_bucket,
        grid.frequency_bucket,
        coalesce(cells.customers, 0) as customers,
        coalesce(cells.active_customers, 0) as active_customers,
        coalesce(cells.orders_next, 0) as orders_next,
        coalesce(cells.margin_next, 0) as margin_next,
        -- the cell over all segments, itself shrunk towards the whole population
        coalesce(
            (buckets_all_segments.active_customers + {{ shrinkage }} * population.p_active)
            / (buckets_all_segments.customers + {{ shrinkage }}),
            population.p_active
        ) as prior_p_active,
        coalesce(
            (buckets_all_segments.orders_next + {{ shrinkage }} * population.orders_per_active)
            / (buckets_all_segments.active_customers + {{ shrinkage }}),
            population.orders_per_active,
            0
        ) as prior_orders_per_active,
        coalesce(
            (buckets_all_segments.margin_next + {{ shrinkage }} * population.margin_per_order)
            / (buckets_all_segments.orders_next + {{ shrinkage }}),
            population.margin_per_order,
            0
        ) as prior_margin_per_order

    from grid

    inner join population
        on grid.as_of_date = population.as_of_date

    left join cells
        on
            grid.as_of_date = cells.as_of_date
            and grid.segment is not distinct from cells.segment
            and grid.recency_bucket = cells.recency_bucket
            and grid.frequency_bucket = cells.frequency_bucket

    left join buckets_all_segments
        on
            grid.as_of_date = buckets_all_segments.as_of_date
            and grid.recency_bucket = buckets_all_segments.recency_bucket
            and grid.frequency_bucket = buckets_all_segments.frequency_bucket

),

final as (

    select
        as_of_date as calibration_date,
        segment,
        recency_bucket,
        frequency_bucket,
        cast(customers as integer) as customers,
        cast(active_customers as integer) as active_customers,
        cast(
            (active_customers + {{ shrinkage }} * prior_p_active) / (customers + {{ shrinkage }})
            as numeric(9, 6)
        ) as p_active,
        cast(
            (orders_next + {{ shrinkage }} * prior_orders_per_active) / (active_customers + {{ shrinkage }})
            as numeric(12, 6)
        ) as orders_per_active,
        cast(
            (margin_next + {{ shrinkage }} * prior_margin_per_order) / (orders_next + {{ shrinkage }})
            as numeric(18, 2)
        ) as margin_per_order

    from priors

)

select * from final
