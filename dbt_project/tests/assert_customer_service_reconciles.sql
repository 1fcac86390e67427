-- Every ticket and every survey must land in customer_service exactly once: the mart's
-- tickets_opened add up to the tickets in fct_tickets, its tickets_resolved to the resolved
-- ones, and its surveys to the surveys in staging. Returns a row when any of them differ
-- (e.g. a ticket without opened_at or a survey without submitted_at has no month).
with

service as (

    select
        coalesce(sum(tickets_opened), 0) as mart_tickets_opened,
        coalesce(sum(tickets_resolved), 0) as mart_tickets_resolved,
        coalesce(sum(surveys), 0) as mart_surveys

    from {{ ref('customer_service') }}

),

tickets as (

    select
        count(*) as ticket_count,
        count(*) filter (where is_resolved) as resolved_ticket_count

    from {{ ref('fct_tickets') }}

),

surveys as (

    select count(*) as survey_count
    from {{ ref('stg_after_sales__surveys') }}

),

final as (

    select
        service.mart_tickets_opened,
        tickets.ticket_count,
        service.mart_tickets_resolved,
        tickets.resolved_ticket_count,
        service.mart_surveys,
        surveys.survey_count

    from service

    cross join tickets

    cross join surveys

    where
        service.mart_tickets_opened <> tickets.ticket_count
        or service.mart_tickets_resolved <> tickets.resolved_ticket_count
        or service.mart_surveys <> surveys.survey_count

)

select * from final
