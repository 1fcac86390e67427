-- Product lines: every product line an opportunity or a target names. Standard costs join here
-- once the finance feed delivers them.
with

opportunities as (

    select * from {{ ref('stg_crm__opportunities') }}

),

targets as (

    select * from {{ ref('stg_crm__targets') }}

),

product_lines as (

    select product_line from opportunities
    union
    select product_line from targets

),

final as (

    select
        cast(product_line as text) as product_line,
        cast(initcap(product_line) as text) as product_line_name

    from product_lines

    where product_line is not null

)

select * from final
