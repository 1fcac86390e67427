{#-
    The pipeline's stages are data: seeds/opportunity_stages.csv (stage, stage_order, outcome
    open / won / lost, win_probability), edited by sales ops and read by Python too
    (plugins/salesdw/vocabulary.py). A lost stage can follow any open stage and has no order.
-#}

{#-
    SQL select of the funnel stages with their order and next stage:
    columns (stage text, stage_order integer, next_stage text). The stages that can still
    advance (outcome open), each with the stage after it in order (the last open stage's next
    is the won stage).
-#}
{% macro opportunity_funnel_stages() -%}
    select
        stage,
        stage_order,
        next_stage
    from (
        select
            stage,
            stage_order,
            outcome,
            lead(stage) over (order by stage_order) as next_stage
        from {{ ref('opportunity_stages') }}
        where stage_order is not null
    ) as ordered_stages
    where outcome = 'open'
{%- endmacro %}
