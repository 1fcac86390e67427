-- One row per support ticket with its service times, the account's owner rep and the scores
-- of the ticket's survey (the latest one when a ticket has several).
{{
    config(
        materialized='incremental',
        unique_key='ticket_id',
        post_hook="{{ delete_keys_gone_from(ref('int_tickets_timed'), 'ticket_id') }}",
    )
}}

with

tickets as (

    select * from {{ ref('int_tickets_timed') }}

),

surveys as (

    select * from {{ ref('int_surveys_scored') }}

),

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

ticket_surveys as (

    -- the latest survey of each ticket: newest submitted_at, then highest survey_id
    select distinct on (ticket_id)
        ticket_id,
        csat,
        nps,
        _loaded_at

    from surveys

    where ticket_id is not null

    order by
        ticket_id asc,
        submitted_at desc nulls last,
        survey_id desc

),

{% if is_incremental() %}
-- a ticket loaded since the last run, surveyed since, or whose account changed since
changed_tickets as (

    select ticket_id from tickets where _loaded_at > {{ incremental_cutoff() }}
    union
    select ticket_id from surveys where _loaded_at > {{ incremental_cutoff() }}
    union
    select tickets.ticket_id
    from tickets
    inner join accounts on tickets.account_id = accounts.account_id
    where accounts._loaded_at > {{ incremental_cutoff() }}

),
{% endif %}

final as (

    select
        cast(tickets.ticket_id as text) as ticket_id,
        cast(tickets.account_id as text) as account_id,
        cast(accounts.owner_rep_id as text) as owner_rep_id,
        cast(tickets.priority as text) as priority,
        cast(tickets.status as text) as status,
        cast(tickets.opened_at as timestamptz) as opened_at,
        cast(tickets.first_response_at as timestamptz) as first_response_at,
        cast(tickets.resolved_at as timestamptz) as resolved_at,
        cast(tickets.first_response_hours as numeric(10, 2)) as first_response_hours,
        cast(tickets.resolution_hours as numeric(10, 2)) as resolution_hours,
        cast(tickets.is_resolved as boolean) as is_resolved,
        cast(ticket_surveys.csat as integer) as csat,
        cast(ticket_surveys.nps as integer) as nps,
        cast(
            greatest(tickets._loaded_at, ticket_surveys._loaded_at, accounts._loaded_at) as timestamptz
        ) as _loaded_at

    from tickets

    left join accounts
        on tickets.account_id = accounts.account_id

    left join ticket_surveys
        on tickets.ticket_id = ticket_surveys.ticket_id

    {% if is_incremental() %}
    where tickets.ticket_id in (select ticket_id from changed_tickets)
    {% endif %}

)

select * from final
