-- Service times: one row per support ticket with the hours from opening to the first response
-- and to resolution, and the dates and months (reporting time zone) it was opened and resolved.
-- The one definition of first-response and resolution time, shared by every mart.
with

tickets as (

    select * from {{ ref('stg_after_sales__tickets') }}

),

timed as (

    select
        ticket_id,
        account_id,
        priority,
        status,
        opened_at,
        first_response_at,
        resolved_at,
        resolved_at is not null as is_resolved,
        -- hours to 6 decimals (3.6 ms): the marts aggregate these and round to 2 decimals
        cast(
            extract(epoch from first_response_at - opened_at) / 3600 as numeric(14, 6)
        ) as first_response_hours,
        cast(
            extract(epoch from resolved_at - opened_at) / 3600 as numeric(14, 6)
        ) as resolution_hours,
        {{ to_reporting_date('opened_at') }} as opened_date,
        {{ to_reporting_date('resolved_at') }} as resolved_date,
        _loaded_at

    from tickets

    -- deleted in the service desk: leaves every fact and mart
    where is_deleted is not true

),

final as (

    select
        ticket_id,
        account_id,
        priority,
        status,
        opened_at,
        first_response_at,
        resolved_at,
        is_resolved,
        first_response_hours,
        resolution_hours,
        opened_date,
        cast(date_trunc('month', opened_date) as date) as opened_month,
        resolved_date,
        cast(date_trunc('month', resolved_date) as date) as resolved_month,
        _loaded_at

    from timed

)

select * from final
