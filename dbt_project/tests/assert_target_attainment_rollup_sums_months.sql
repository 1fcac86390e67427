-- Every rollup is the sum of its months: for each level (rep, team, region), member, product
-- line and period of target_attainment_rollup, target, bookings, cash and weighted pipeline
-- equal the sums of target_attainment's months that fall in the period under that member.
-- Returns one row per rollup row that differs (or month total that has no rollup row).
with

monthly as (

    select * from {{ ref('target_attainment') }}

),

rollup as (

    select * from {{ ref('target_attainment_rollup') }}

),

monthly_members as (

    select 'rep' as level, rep_id as member_id, monthly.* from monthly
    union all
    select 'team' as level, team as member_id, monthly.* from monthly
    union all
    select 'region' as level, region as member_id, monthly.* from monthly

),

-- each rollup period's months, summed straight from the monthly mart
expected as (

    select
        periods.level,
        periods.member_id,
        periods.product_line,
        periods.period_type,
        periods.period_start,
        sum(monthly_members.target_amount) as target_amount,
        sum(monthly_members.bookings_amount) as bookings_amount,
        sum(monthly_members.cash_collected_amount) as cash_collected_amount,
        sum(monthly_members.weighted_pipeline_amount) as weighted_pipeline_amount

    from rollup as periods

    inner join monthly_members
        on
            periods.level = monthly_members.level
            and periods.member_id = monthly_members.member_id
            and periods.product_line = monthly_members.product_line
            and monthly_members.month between periods.period_start and periods.period_end

    group by 1, 2, 3, 4, 5

),

month_totals as (

    select
        sum(target_amount) as target_amount,
        sum(bookings_amount) as bookings_amount,
        sum(cash_collected_amount) as cash_collected_amount

    from monthly

),

final as (

    select
        rollup.level,
        rollup.member_id,
        rollup.product_line,
        rollup.period_type,
        rollup.period_start,
        rollup.target_amount,
        expected.target_amount as months_target_amount,
        rollup.bookings_amount,
        expected.bookings_amount as months_bookings_amount,
        rollup.cash_collected_amount,
        expected.cash_collected_amount as months_cash_collected_amount

    from rollup

    left join expected
        using (level, member_id, product_line, period_type, period_start)

    where
        rollup.target_amount is distinct from expected.target_amount
        or rollup.bookings_amount is distinct from expected.bookings_amount
        or rollup.cash_collected_amount is distinct from expected.cash_collected_amount
        or rollup.weighted_pipeline_amount
        is distinct from round(expected.weighted_pipeline_amount, 2)

    union all

    -- and every level x period type covers all of the months exactly once
    select
        rollup.level,
        null as member_id,
        null as product_line,
        rollup.period_type,
        null as period_start,
        sum(rollup.target_amount) as target_amount,
        max(month_totals.target_amount) as months_target_amount,
        sum(rollup.bookings_amount) as bookings_amount,
        max(month_totals.bookings_amount) as months_bookings_amount,
        sum(rollup.cash_collected_amount) as cash_collected_amount,
        max(month_totals.cash_collected_amount) as months_cash_collected_amount

    from rollup

    cross join month_totals

    group by
        rollup.level,
        rollup.period_type

    having
        sum(rollup.target_amount) <> max(month_totals.target_amount)
        or sum(rollup.bookings_amount) <> max(month_totals.bookings_amount)
        or sum(rollup.cash_collected_amount) <> max(month_totals.cash_collected_amount)

)

select * from final
