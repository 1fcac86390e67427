-- Every version of every sales rep the CRM feed delivered (raw is append-by-batch), one row
-- per rep and updated_at: the history dim_sales_rep is built from. A version delivered twice
-- (a rerun, a page served again) keeps its newest load. stg_crm__reps is the latest of these.
with

source as (

    select * from {{ source('crm', 'reps') }}

),

renamed as (

    select
        -- ids
        rep_id,
        manager_id as manager_rep_id,

        -- attributes
        full_name as rep_name,
        email,
        team,
        region,
        cast(is_active as boolean) as is_active,

        -- dates and timestamps
        cast(hire_date as date) as hire_date,
        cast(updated_at as timestamptz) as updated_at,

        -- loader metadata
        _batch_id,
        _batch_date,
        _loaded_at,
        _origin

    from source

),

deduplicated as (

    -- one row per (rep_id, updated_at): newest load, then highest _origin
    {{ dedupe_latest('renamed', 'rep_id, updated_at', 'updated_at') }}

),

final as (

    select * from deduplicated

)

select * from final
