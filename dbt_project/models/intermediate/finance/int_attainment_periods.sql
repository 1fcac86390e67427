-- Every calendar month with the periods it rolls up into: itself, its calendar quarter and
-- year, and its fiscal quarter and year (var fiscal_year_start_month, as in dim_date; a fiscal
-- year is named by the calendar year it ends in). One row per month x period_type; the
-- period's first and last day and a label a BI tool can show.
{%- set shift_months = (13 - fiscal_year_start_month()) % 12 %}

with

calendar as (

    select * from {{ ref('dim_date') }}

),

months as (

    select distinct calendar_month as month
    from calendar

),

periods as (

    select month, 'month' as period_type, month as period_start, 1 as period_months
    from months

    union all

    select
        month, 'quarter' as period_type, cast(date_trunc('quarter', month) as date) as period_start, 3 as period_months
    from months

    union all

    select month, 'year' as period_type, cast(date_trunc('year', month) as date) as period_start, 12 as period_months
    from months

    -- shift into the fiscal frame (its first month lands on January), truncate, shift back
    union all

    select
        month,
        'fiscal_quarter' as period_type,
        cast(
            date_trunc('quarter', month + interval '{{ shift_months }} months')
            - interval '{{ shift_months }} months' as date
        ) as period_start,
        3 as period_months

    from months

    union all

    select
        month,
        'fiscal_year' as period_type,
        cast(
            date_trunc('year', month + interval '{{ shift_months }} months')
            - interval '{{ shift_months }} months' as date
        ) as period_start,
        12 as period_months

    from months

),

final as (

    select
        cast(month as date) as month,
        cast(period_type as text) as period_type,
        cast(period_start as date) as period_start,
        cast(
            period_start + period_months * interval '1 month' - interval '1 day' as date
        ) as period_end,
        cast(
            case period_type
                when 'month' then to_char(period_start, 'YYYY-MM')
                when 'quarter' then to_char(period_start, 'YYYY-"Q"Q')
                when 'year' then to_char(period_start, 'YYYY')
                when 'fiscal_quarter' then
                    'FY' || {{ fiscal_year('period_start') }}
                    || '-Q' || {{ fiscal_quarter('period_start') }}
                when 'fiscal_year' then 'FY' || {{ fiscal_year('period_start') }}
            end
            as text
        ) as period_label

    from periods

)

select * from final
