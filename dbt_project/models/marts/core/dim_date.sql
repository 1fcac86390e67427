-- The calendar: one row per day from calendar_first_day() to calendar_last_day() (every day a
-- record's date can hold, by the loader's plausible_dates: 2000-01-01 .. five years ahead), with
-- the calendar and the fiscal periods every mart can join to.
-- The fiscal year starts in month var fiscal_year_start_month and is named by the calendar
-- year in which it ends (macros/fiscal_calendar.sql).
with

days as (

    select cast(day_timestamp as date) as date_day

    from generate_series(
        {{ calendar_first_day() }},
        {{ calendar_last_day() }},
        interval '1 day'
    ) as day_series (day_timestamp)

),

final as (

    select
        cast(date_day as date) as date_day,

        -- calendar
        cast(extract(year from date_day) as integer) as calendar_year,
        cast(extract(quarter from date_day) as integer) as calendar_quarter,
        cast(date_trunc('month', date_day) as date) as calendar_month,
        cast(extract(month from date_day) as integer) as month_of_year,
        cast(to_char(date_day, 'FMMonth') as text) as month_name,
        cast(extract(isoyear from date_day) as integer) as iso_year,
        cast(extract(week from date_day) as integer) as iso_week,
        cast(extract(isodow from date_day) as integer) as day_of_week,
        cast(to_char(date_day, 'FMDay') as text) as day_name,
        extract(isodow from date_day) in (6, 7) as is_weekend,

        -- fiscal calendar (var fiscal_year_start_month)
        {{ fiscal_year('date_day') }} as fiscal_year,
        {{ fiscal_quarter('date_day') }} as fiscal_quarter,
        {{ fiscal_month('date_day') }} as fiscal_month

    from days

)

select * from final
