-- One rate per currency and day, from the currency's first published rate to the end of the
-- calendar (dim_date's last day, so future-dated amounts such as targets find the latest rate):
-- the rate published for the day, or else the last one published before it (weekends,
-- holidays, a late feed), expressed in units of the reporting currency (var
-- reporting_currency) per unit of the currency. CNY is 1 by definition (the feed's base), and
-- so is the reporting currency to itself when the feed has no rate for it.
{{ config(materialized='table') }}

with

fx_rates as (

    select * from {{ ref('stg_finance__fx_rates') }}

),

published as (

    select
        currency,
        rate_date,
        rate_to_cny,
        _loaded_at

    from fx_rates

    where currency <> 'CNY' and rate_to_cny > 0

),

currencies as (

    select
        currency,
        min(rate_date) as first_rate_date

    from published

    group by currency

    union all

    -- the base currency: 1 CNY per CNY, from the first day any rate exists
    select
        'CNY' as currency,
        coalesce(min(rate_date), {{ calendar_first_day() }}) as first_rate_date

    from published

),

days as (

    select
        currencies.currency,
        cast(day_series.rate_date as date) as rate_date

    from currencies

    cross join lateral generate_series(
        currencies.first_rate_date,
        {{ calendar_last_day() }},
        interval '1 day'
    ) as day_series (rate_date)

),

days_with_rates as (

    select
        days.currency,
        days.rate_date,
        case when days.currency = 'CNY' then 1 else published.rate_to_cny end as rate_to_cny,
        case when days.currency = 'CNY' or published.rate_date is not null then days.rate_date end
            as published_on,
        published._loaded_at

    from days

    left join published
        on
            days.currency = published.currency
            and days.rate_date = published.rate_date

),

-- a day without a published rate belongs to the run of days since the last published one
rate_runs as (

    select
        *,
        count(published_on) over (partition by currency order by rate_date) as rate_run

    from days_with_rates

),

carried_forward as (

    select
        currency,
        rate_date,
        first_value(rate_to_cny) over currency_run as rate_to_cny,
        first_value(published_on) over currency_run as published_on,
        first_value(_loaded_at) over currency_run as _loaded_at

    from rate_runs

    window currency_run as (partition by currency, rate_run order by rate_date)

),

reporting as (

    select
        rate_date,
        rate_to_cny as reporting_rate_to_cny,
        _loaded_at as reporting_loaded_at

    from carried_forward

    where currency = '{{ reporting_currency() }}'

),

final as (

    select
        cast(carried_forward.currency as text) as currency,
        cast(carried_forward.rate_date as date) as rate_date,
        cast(carried_forward.published_on as date) as published_on,
        cast(carried_forward.rate_date <> carried_forward.published_on as boolean)
            as is_carried_forward,
        cast(carried_forward.rate_to_cny as numeric(18, 6)) as rate_to_cny,
        cast('{{ reporting_currency() }}' as text) as reporting_currency,
        cast(
            carried_forward.rate_to_cny / reporting.reporting_rate_to_cny as numeric(24, 12)
        ) as rate_to_reporting,
        greatest(carried_forward._loaded_at, reporting.reporting_loaded_at) as _loaded_at

    from carried_forward

    -- a day before the reporting currency's first rate has no rate to it
    inner join reporting
        on carried_forward.rate_date = reporting.rate_date

    where carried_forward.rate_to_cny is not null

    union all

    -- the reporting currency when the feed publishes no rate for it (a deployment without an FX
    -- feed, its amounts all in the reporting currency): 1 per unit on every day of the calendar
    select
        cast('{{ reporting_currency() }}' as text) as currency,
        cast(day_series.rate_date as date) as rate_date,
        cast(day_series.rate_date as date) as published_on,
        false as is_carried_forward,
        cast(null as numeric(18, 6)) as rate_to_cny,
        cast('{{ reporting_currency() }}' as text) as reporting_currency,
        cast(1 as numeric(24, 12)) as rate_to_reporting,
        cast(null as timestamptz) as _loaded_at

    from generate_series(
        {{ calendar_first_day() }}, {{ calendar_last_day() }}, interval '1 day'
    ) as day_series (rate_date)

    where
        '{{ reporting_currency() }}' <> 'CNY'
        and not exists (
            select 1 from published where published.currency = '{{ reporting_currency() }}'
        )

)

select * from final
