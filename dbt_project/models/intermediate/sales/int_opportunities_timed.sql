-- One row per opportunity (current state) with its dates in the reporting time zone and how
-- long it took to close: days_to_close = close date - creation date, for won and lost deals
-- alike; null while open. The one definition of the signing cycle (签约周期, for won deals).
with

opportunities as (

    select * from {{ ref('stg_crm__opportunities') }}

),

timed as (

    select
        *,
        not is_won and not is_lost as is_open,
        {{ to_reporting_date('created_at') }} as created_date

    from opportunities

    -- a deal deleted in the CRM leaves every fact and mart
    where is_deleted is not true

),

final as (

    select
        *,
        cast(date_trunc('month', closed_date) as date) as closed_month,
        case
            when not is_open then closed_date - created_date
        end as days_to_close

    from timed

)

select * from final
