{#-
    The opportunity stages in funnel order. closed_lost can follow any open stage and has no
    order (stage_order is null for it).
-#}
{% macro opportunity_stages() -%}
    {{ return(['needs_analysis', 'proposal', 'negotiation', 'contract', 'closed_won']) }}
{%- endmacro %}


{#- SQL expression: the 1-based funnel order of a stage column, null for closed_lost. -#}
{% macro opportunity_stage_order(column) -%}
    case {{ column }}
        {%- for stage in opportunity_stages() %}
        when '{{ stage }}' then {{ loop.index }}
        {%- endfor %}
    end
{%- endmacro %}


{#-
    SQL select of the funnel stages with their order and next stage:
    columns (stage text, stage_order integer, next_stage text). The last stage (closed_won)
    is left out: the funnel is measured on the stages that can still advance.
-#}
{% macro opportunity_funnel_stages() -%}
    {%- set stages = opportunity_stages() -%}
    select
        stage,
        stage_order,
        next_stage
    from (
        values
        {%- for stage in stages[:-1] %}
            ('{{ stage }}', {{ loop.index }}, '{{ stages[loop.index] }}'){{ "," if not loop.last }}
        {%- endfor %}
    ) as funnel_stages (stage, stage_order, next_stage)
{%- endmacro %}
