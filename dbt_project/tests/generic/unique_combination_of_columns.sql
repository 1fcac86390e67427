{#-
    Grain test: no two rows share the same values of combination_of_columns.
    Fails with one row per duplicated key combination (and its row count).
-#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

with validation as (

    select
        {% for column in combination_of_columns -%}
        {{ column }},
        {% endfor -%}
        count(*) as row_count

    from {{ model }}

    group by
        {% for column in combination_of_columns -%}
        {{ column }}{{ "," if not loop.last }}
        {% endfor %}

),

final as (

    select *
    from validation
    where row_count > 1

)

select * from final

{% endtest %}
