-- Sales reps with history (SCD2): one row per version of a rep as the CRM recorded it, valid
-- from its updated_at until the next version's. Built from every version raw keeps, so a rep
-- who moved team keeps the old team on the bookings closed before the move, even after a
-- backfill or a full refresh (see stg_crm__rep_versions for why not a snapshot).
with

rep_versions as (

    select * from {{ ref('stg_crm__rep_versions') }}

),

versioned as (

    {{ scd2_versions('rep_versions', 'rep_id') }}

),

final as (

    select
        cast(version_key as text) as sales_rep_key,
        cast(rep_id as text) as rep_id,
        cast(rep_name as text) as rep_name,
        cast(team as text) as team,
        cast(region as text) as region,
        cast(manager_rep_id as text) as manager_rep_id,
        cast(is_active as boolean) as is_active,
        cast(hire_date as date) as hire_date,
        cast(valid_from as timestamptz) as valid_from,
        cast(valid_to as timestamptz) as valid_to,
        cast(is_current as boolean) as is_current,
        cast(updated_at as timestamptz) as updated_at,
        cast(_loaded_at as timestamptz) as _loaded_at

    from versioned

)

select * from final
