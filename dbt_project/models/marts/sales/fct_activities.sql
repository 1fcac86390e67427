-- One row per sales activity (visit, call, meeting) logged in the CRM, with the versions of the
-- rep and the customer valid when it took place (a rep who later moves team keeps this visit
-- in the old team). Activities deleted in the CRM are left out.
{{
    config(
        materialized='incremental',
        unique_key='activity_id',
        post_hook="{{ delete_keys_gone_from(ref('stg_crm__activities'), 'activity_id', 'is_deleted is not true') }}",
    )
}}

with

activities as (

    select * from {{ ref('stg_crm__activities') }}

    -- an activity deleted in the CRM leaves the fact (delete_keys_gone_from)
    where is_deleted is not true

),

sales_reps as (

    select * from {{ ref('dim_sales_rep') }}

),

customers as (

    select * from {{ ref('dim_customer') }}

),

{% if is_incremental() %}
-- an activity loaded since the last run, or one whose rep or customer got a version since (a
-- backfilled version can change which one was valid when it took place)
changed_activities as (

    select activity_id from activities where _loaded_at > {{ incremental_cutoff() }}
    union
    {{ keys_with_new_rep_or_customer_version('activities', 'activity_id', 'rep_id', 'account_id') }}

),
{% endif %}

final as (

    select
        cast(activities.activity_id as text) as activity_id,
        cast(activities.rep_id as text) as rep_id,
        cast(sales_reps.sales_rep_key as text) as sales_rep_key,
        cast(sales_reps.team as text) as team,
        cast(sales_reps.region as text) as region,
        cast(activities.account_id as text) as account_id,
        cast(customers.customer_key as text) as customer_key,
        cast(activities.opportunity_id as text) as opportunity_id,
        cast(activities.activity_type as text) as activity_type,
        cast(activities.occurred_at as timestamptz) as occurred_at,
        cast(activities.occurred_date as date) as occurred_date,
        cast(date_trunc('month', activities.occurred_date) as date) as occurred_month,
        cast(activities.updated_at as timestamptz) as updated_at,
        cast(
            greatest(activities._loaded_at, sales_reps._loaded_at, customers._loaded_at) as timestamptz
        ) as _loaded_at

    from activities

    left join sales_reps
        on
            activities.rep_id = sales_reps.rep_id
            and {{ scd2_valid_at('sales_reps', 'activities.occurred_at') }}

    left join customers
        on
            activities.account_id = customers.customer_id
            and {{ scd2_valid_at('customers', 'activities.occurred_at') }}

    {% if is_incremental() %}
    where activities.activity_id in (select activity_id from changed_activities)
    {% endif %}

)

select * from final
