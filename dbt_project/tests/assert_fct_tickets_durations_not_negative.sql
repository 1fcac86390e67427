-- A ticket cannot be answered or resolved before it was opened. Such a ticket (a wrong
-- timestamp in the service desk) would drag the response and resolution averages down, so
-- it is reported; it only warns, as the source has to fix it.
{{ config(severity='warn') }}

with

tickets as (

    select * from {{ ref('fct_tickets') }}

),

final as (

    select
        ticket_id,
        opened_at,
        first_response_at,
        resolved_at,
        first_response_hours,
        resolution_hours

    from tickets

    where
        first_response_hours < 0
        or resolution_hours < 0

)

select * from final
